-- Schema v2: per-GPU per-minute rollup, fed by a materialized view on gpu_samples.
-- What dashboards and alert rules read at fleet scale: 60x fewer rows than raw.
-- Gauges keep sum and count (avg = sum / count, exact; a NULL adds 0 to the sum and
-- nothing to the count, so a GPU without e.g. HBM temperature averages correctly), min and max; p50/p99 use
-- quantilesTiming, which is exact for values below 1024 - so power is kept in watts and
-- temperatures, utilization in their native units. Counters keep min and max: the increase
-- over any window is max(max) - min(min) (exact while the counter does not reset).
-- Clocks-event reasons: the bitmask OR plus seconds (samples) per reason class.
-- The target has its own non_replicated_deduplication_window so that a retried insert with
-- the same insert_deduplication_token is not counted twice by the view (reference §9).
-- `gpufleet db migrate` backfills the rollup from rows already stored before it creates
-- the view (storage/migrations.py).

CREATE TABLE IF NOT EXISTS gpu_minute
(
    minute DateTime('UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    uuid LowCardinality(String),
    samples SimpleAggregateFunction(sum, UInt64),
    power_mw_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    power_mw_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    power_mw_min SimpleAggregateFunction(min, Nullable(UInt32)),
    power_mw_max SimpleAggregateFunction(max, Nullable(UInt32)),
    gpu_temp_c_sum SimpleAggregateFunction(sum, Int64) CODEC(T64, ZSTD(1)),
    gpu_temp_c_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    gpu_temp_c_min SimpleAggregateFunction(min, Nullable(Int16)),
    gpu_temp_c_max SimpleAggregateFunction(max, Nullable(Int16)),
    mem_temp_c_sum SimpleAggregateFunction(sum, Int64) CODEC(T64, ZSTD(1)),
    mem_temp_c_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    mem_temp_c_min SimpleAggregateFunction(min, Nullable(Int16)),
    mem_temp_c_max SimpleAggregateFunction(max, Nullable(Int16)),
    util_gpu_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    util_gpu_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    util_gpu_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    util_gpu_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    sm_clock_mhz_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    sm_clock_mhz_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    sm_clock_mhz_min SimpleAggregateFunction(min, Nullable(UInt16)),
    sm_clock_mhz_max SimpleAggregateFunction(max, Nullable(UInt16)),
    power_w_q AggregateFunction(quantilesTiming(0.5, 0.99), Nullable(UInt16)) CODEC(ZSTD(1)),
    gpu_temp_c_q AggregateFunction(quantilesTiming(0.5, 0.99), Nullable(UInt16)) CODEC(ZSTD(1)),
    mem_temp_c_q AggregateFunction(quantilesTiming(0.5, 0.99), Nullable(UInt16)) CODEC(ZSTD(1)),
    util_gpu_pct_q AggregateFunction(quantilesTiming(0.5, 0.99), Nullable(UInt16)) CODEC(ZSTD(1)),
    reasons_seen SimpleAggregateFunction(groupBitOr, Nullable(UInt64)),
    thermal_samples SimpleAggregateFunction(sum, UInt64),
    power_cap_samples SimpleAggregateFunction(sum, UInt64),
    power_brake_samples SimpleAggregateFunction(sum, UInt64),
    hw_slowdown_samples SimpleAggregateFunction(sum, UInt64),
    energy_mj_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    energy_mj_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    ecc_corrected_count_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    ecc_corrected_count_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    ecc_uncorrected_count_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    ecc_uncorrected_count_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    pcie_replay_count_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    pcie_replay_count_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_crc_errors_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_crc_errors_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_replay_errors_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_replay_errors_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_recovery_errors_min SimpleAggregateFunction(min, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    nvlink_recovery_errors_max SimpleAggregateFunction(max, Nullable(UInt64)) CODEC(T64, ZSTD(1)),
    remapped_rows_uncorrectable_min SimpleAggregateFunction(min, Nullable(UInt16)) CODEC(T64, ZSTD(1)),
    remapped_rows_uncorrectable_max SimpleAggregateFunction(max, Nullable(UInt16)) CODEC(T64, ZSTD(1)),
    remap_pending_any SimpleAggregateFunction(max, Nullable(Bool)),
    remap_failure_any SimpleAggregateFunction(max, Nullable(Bool))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (cluster, hall, row, rack, node, gpu_index, uuid, minute)
TTL minute + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_minute_mv TO gpu_minute AS
SELECT
    toStartOfMinute(ts) AS minute,
    cluster, hall, row, rack, node, gpu_index, uuid,
    count() AS samples,
    sum(ifNull(power_mw, 0)) AS power_mw_sum,
    count(power_mw) AS power_mw_count,
    min(power_mw) AS power_mw_min,
    max(power_mw) AS power_mw_max,
    sum(ifNull(gpu_temp_c, 0)) AS gpu_temp_c_sum,
    count(gpu_temp_c) AS gpu_temp_c_count,
    min(gpu_temp_c) AS gpu_temp_c_min,
    max(gpu_temp_c) AS gpu_temp_c_max,
    sum(ifNull(mem_temp_c, 0)) AS mem_temp_c_sum,
    count(mem_temp_c) AS mem_temp_c_count,
    min(mem_temp_c) AS mem_temp_c_min,
    max(mem_temp_c) AS mem_temp_c_max,
    sum(ifNull(util_gpu_pct, 0)) AS util_gpu_pct_sum,
    count(util_gpu_pct) AS util_gpu_pct_count,
    min(util_gpu_pct) AS util_gpu_pct_min,
    max(util_gpu_pct) AS util_gpu_pct_max,
    sum(ifNull(sm_clock_mhz, 0)) AS sm_clock_mhz_sum,
    count(sm_clock_mhz) AS sm_clock_mhz_count,
    min(sm_clock_mhz) AS sm_clock_mhz_min,
    max(sm_clock_mhz) AS sm_clock_mhz_max,
    quantilesTimingState(0.5, 0.99)(toUInt16(intDiv(power_mw, 1000))) AS power_w_q,
    quantilesTimingState(0.5, 0.99)(toUInt16(greatest(gpu_temp_c, 0))) AS gpu_temp_c_q,
    quantilesTimingState(0.5, 0.99)(toUInt16(greatest(mem_temp_c, 0))) AS mem_temp_c_q,
    quantilesTimingState(0.5, 0.99)(toUInt16(util_gpu_pct)) AS util_gpu_pct_q,
    groupBitOr(clocks_event_reasons) AS reasons_seen,
    countIf(bitAnd(clocks_event_reasons, 0x60) != 0) AS thermal_samples,
    countIf(bitAnd(clocks_event_reasons, 0x04) != 0) AS power_cap_samples,
    countIf(bitAnd(clocks_event_reasons, 0x80) != 0) AS power_brake_samples,
    countIf(bitAnd(clocks_event_reasons, 0x08) != 0) AS hw_slowdown_samples,
    min(energy_mj) AS energy_mj_min,
    max(energy_mj) AS energy_mj_max,
    min(ecc_corrected_count) AS ecc_corrected_count_min,
    max(ecc_corrected_count) AS ecc_corrected_count_max,
    min(ecc_uncorrected_count) AS ecc_uncorrected_count_min,
    max(ecc_uncorrected_count) AS ecc_uncorrected_count_max,
    min(pcie_replay_count) AS pcie_replay_count_min,
    max(pcie_replay_count) AS pcie_replay_count_max,
    min(nvlink_crc_errors) AS nvlink_crc_errors_min,
    max(nvlink_crc_errors) AS nvlink_crc_errors_max,
    min(nvlink_replay_errors) AS nvlink_replay_errors_min,
    max(nvlink_replay_errors) AS nvlink_replay_errors_max,
    min(nvlink_recovery_errors) AS nvlink_recovery_errors_min,
    max(nvlink_recovery_errors) AS nvlink_recovery_errors_max,
    min(remapped_rows_uncorrectable) AS remapped_rows_uncorrectable_min,
    max(remapped_rows_uncorrectable) AS remapped_rows_uncorrectable_max,
    max(remap_pending) AS remap_pending_any,
    max(remap_failure) AS remap_failure_any
FROM gpu_samples
GROUP BY minute, cluster, hall, row, rack, node, gpu_index, uuid;
