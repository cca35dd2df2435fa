-- Schema v2: power per second per rack, per hall and for the whole fleet, for power-swing
-- analysis (MW/s ramps, checkpoint dips) without touching raw rows. `gpus` counts the
-- samples summed, so a dip caused by GPUs that stopped reporting can be told apart from
-- one caused by GPUs drawing less. Samples are bucketed to the second (collectors sample
-- with millisecond jitter). Each view aggregates its insert block; rows of the same second
-- from different batches merge in the background, so readers always sum() GROUP BY ts.
-- Every target has its own deduplication window (reference §9). Columns are qualified
-- (raw.power_mw) because the output aliases reuse the raw column names.

CREATE TABLE IF NOT EXISTS power_rack_1s
(
    ts DateTime('UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    power_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    power_instant_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    gpus SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, hall, row, rack, ts)
TTL ts + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS power_rack_1s_mv TO power_rack_1s AS
SELECT toStartOfSecond(raw.ts) AS ts, cluster, hall, row, rack,
       sum(ifNull(raw.power_mw, 0)) AS power_mw, sum(ifNull(raw.power_instant_mw, 0)) AS power_instant_mw, count(raw.power_mw) AS gpus
FROM gpu_samples AS raw
GROUP BY ts, cluster, hall, row, rack;

CREATE TABLE IF NOT EXISTS power_hall_1s
(
    ts DateTime('UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    power_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    power_instant_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    gpus SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, hall, ts)
TTL ts + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS power_hall_1s_mv TO power_hall_1s AS
SELECT toStartOfSecond(raw.ts) AS ts, cluster, hall,
       sum(ifNull(raw.power_mw, 0)) AS power_mw, sum(ifNull(raw.power_instant_mw, 0)) AS power_instant_mw, count(raw.power_mw) AS gpus
FROM gpu_samples AS raw
GROUP BY ts, cluster, hall;

CREATE TABLE IF NOT EXISTS power_fleet_1s
(
    ts DateTime('UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    power_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    power_instant_mw SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    gpus SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, ts)
TTL ts + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS power_fleet_1s_mv TO power_fleet_1s AS
SELECT toStartOfSecond(raw.ts) AS ts, cluster,
       sum(ifNull(raw.power_mw, 0)) AS power_mw, sum(ifNull(raw.power_instant_mw, 0)) AS power_instant_mw, count(raw.power_mw) AS gpus
FROM gpu_samples AS raw
GROUP BY ts, cluster;
