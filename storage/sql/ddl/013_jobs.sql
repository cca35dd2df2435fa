-- Jobs on GPUs as time intervals (docs/jobs.md). Sample rows carry no job labels: a sample
-- belongs to the job whose interval on its (cluster, node, gpu_index) contains its timestamp,
-- found by a join at query time, so series cardinality does not grow with jobs.
-- job_assignments: every job_assignment/1 message as it came (start or end, one per job and
--   node), kept for audit and for re-deriving gpu_jobs.
-- gpu_jobs: start and end rows of one job on one node merged into one interval (the earliest
--   start, the latest end; no end yet = still running = open interval), with the union of
--   the GPUs seen in either row. Read it with GROUP BY or through gpu_job_intervals, since
--   background merges happen when they happen.
-- gpu_job_intervals: one row per job, node and GPU: [start_ts, end_ts), end_ts NULL while running.
-- Intervals of one GPU never overlap (a GPU holds one job at a time), so for a sample the
-- interval with the latest start at or before it is the only candidate (ASOF JOIN).
-- Kept as long as the hour rollups: a job's figures outlive its raw samples.

CREATE TABLE IF NOT EXISTS job_assignments
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    node LowCardinality(String),
    job_id String,
    phase LowCardinality(String),
    source LowCardinality(String),
    user LowCardinality(String),
    account LowCardinality(String),
    partition LowCardinality(String),
    name String,
    gpu_indices Array(UInt8),
    uuids Array(String),
    state LowCardinality(String),
    exit_code Nullable(Int32),
    start_ts Nullable(DateTime64(3, 'UTC')),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (cluster, node, job_id, ts)
TTL toDateTime(ts) + INTERVAL {hour_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS gpu_jobs
(
    cluster LowCardinality(String),
    node LowCardinality(String),
    job_id String,
    start_ts SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    end_ts SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    gpu_indices SimpleAggregateFunction(groupUniqArrayArray, Array(UInt8)),
    uuids SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    source SimpleAggregateFunction(max, LowCardinality(String)),
    user SimpleAggregateFunction(max, LowCardinality(String)),
    account SimpleAggregateFunction(max, LowCardinality(String)),
    partition SimpleAggregateFunction(max, LowCardinality(String)),
    name SimpleAggregateFunction(max, String),
    state SimpleAggregateFunction(max, LowCardinality(String)),
    exit_code SimpleAggregateFunction(max, Nullable(Int32))
)
ENGINE = AggregatingMergeTree
ORDER BY (cluster, node, job_id)
TTL toDateTime(last_ts) + INTERVAL {hour_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_jobs_mv TO gpu_jobs AS
SELECT
    cluster, node, job_id,
    min(if(phase = 'start', ts, start_ts)) AS start_ts,
    max(if(phase = 'end', ts, NULL)) AS end_ts,
    max(ts) AS last_ts,
    groupUniqArrayArray(gpu_indices) AS gpu_indices,
    groupUniqArrayArray(arrayFilter(u -> u != '', uuids)) AS uuids,
    max(source) AS source, max(user) AS user, max(account) AS account, max(partition) AS partition,
    max(name) AS name, max(state) AS state, max(exit_code) AS exit_code
FROM job_assignments
GROUP BY cluster, node, job_id;

-- start_ts is not Nullable here (rows without a start are left out), so that ASOF JOIN can
-- use it: the job queries find each rollup minute's job with one ASOF match per row.
CREATE VIEW IF NOT EXISTS gpu_job_intervals AS
SELECT cluster, node, job_id, gpu_index, assumeNotNull(first_start) AS start_ts, end_ts, length(gpu_indices) AS node_gpus,
       source, user, account, partition, name, state, exit_code
FROM
(
    SELECT cluster, node, job_id,
           min(start_ts) AS first_start, max(end_ts) AS end_ts, groupUniqArrayArray(gpu_indices) AS gpu_indices,
           max(source) AS source, max(user) AS user, max(account) AS account, max(partition) AS partition,
           max(name) AS name, max(state) AS state, max(exit_code) AS exit_code
    FROM gpu_jobs
    GROUP BY cluster, node, job_id
    HAVING first_start IS NOT NULL
)
ARRAY JOIN gpu_indices AS gpu_index;
