-- Schema v2: the latest state of every GPU, kept small. The view writes one row per GPU per
-- insert batch (the batch's newest sample); ReplacingMergeTree(ts) keeps the newest per GPU
-- as parts merge, and readers use FINAL (the `gpu_latest` view). Scanning raw rows for
-- argMax per GPU would read the whole retention window at 200,000 GPUs; this reads ~200k rows.
-- Columns are qualified (raw.ts) because the output aliases reuse the raw column names.

CREATE TABLE IF NOT EXISTS gpu_latest_state
(
    cluster LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    ts DateTime64(3, 'UTC'),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    uuid String,
    power_mw Nullable(UInt32),
    gpu_temp_c Nullable(Int16),
    mem_temp_c Nullable(Int16),
    util_gpu_pct Nullable(UInt8),
    mem_used_mib Nullable(UInt32),
    sm_clock_mhz Nullable(UInt16),
    clocks_event_reasons Nullable(UInt64),
    pstate Nullable(UInt8),
    ecc_uncorrected_count Nullable(UInt64),
    remap_pending Nullable(Bool),
    remap_failure Nullable(Bool)
)
ENGINE = ReplacingMergeTree(ts)
ORDER BY (cluster, node, gpu_index)
TTL toDateTime(ts) + INTERVAL {raw_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_latest_state_mv TO gpu_latest_state AS
SELECT
    cluster, node, gpu_index, ts,
    s.1 AS hall, s.2 AS row, s.3 AS rack, s.4 AS uuid, s.5 AS power_mw, s.6 AS gpu_temp_c, s.7 AS mem_temp_c,
    s.8 AS util_gpu_pct, s.9 AS mem_used_mib, s.10 AS sm_clock_mhz, s.11 AS clocks_event_reasons, s.12 AS pstate,
    s.13 AS ecc_uncorrected_count, s.14 AS remap_pending, s.15 AS remap_failure
FROM
(
    SELECT
        raw.cluster AS cluster, raw.node AS node, raw.gpu_index AS gpu_index,
        max(raw.ts) AS ts,
        argMax((raw.hall, raw.row, raw.rack, raw.uuid, raw.power_mw, raw.gpu_temp_c, raw.mem_temp_c, raw.util_gpu_pct,
                raw.mem_used_mib, raw.sm_clock_mhz, raw.clocks_event_reasons, raw.pstate, raw.ecc_uncorrected_count,
                raw.remap_pending, raw.remap_failure), raw.ts) AS s
    FROM gpu_samples AS raw
    GROUP BY raw.cluster, raw.node, raw.gpu_index
);

CREATE VIEW IF NOT EXISTS gpu_latest AS
SELECT
    cluster, hall, row, rack, node, gpu_index, uuid, ts,
    dateDiff('millisecond', ts, now64(3)) / 1000 AS age_s,
    power_mw, gpu_temp_c, mem_temp_c, util_gpu_pct, mem_used_mib, sm_clock_mhz, clocks_event_reasons, pstate,
    ecc_uncorrected_count, remap_pending, remap_failure
FROM gpu_latest_state FINAL;
