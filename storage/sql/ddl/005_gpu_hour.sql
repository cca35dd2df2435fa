-- Schema v2: per-GPU per-hour rollup, fed from gpu_samples directly rather than chained
-- from gpu_minute, so that each rollup depends only on the raw insert and its
-- deduplication. Kept 2 years by default. Same columns as gpu_minute (004) except the
-- quantiles: an hour has 3,600 samples per GPU, and quantilesTiming keeps every one of them
-- below 5,670 (measured: ~6 KB per row compressed, 28 GB/day at 200,000 GPUs). Here each
-- quantile metric is a histogram instead, value -> samples (sumMap; a few dozen distinct
-- watts, degrees or percent per GPU-hour), from which gpufleet_hist_quantile(hist, p) reads
-- the exact nearest-rank quantile: the smallest value whose cumulative count reaches p.

CREATE TABLE IF NOT EXISTS gpu_hour
(
    hour DateTime('UTC') CODEC(Delta, ZSTD(1)),
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
    power_w_hist SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))) CODEC(ZSTD(1)),
    gpu_temp_c_hist SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))) CODEC(ZSTD(1)),
    mem_temp_c_hist SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))) CODEC(ZSTD(1)),
    util_gpu_pct_hist SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))) CODEC(ZSTD(1)),
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
PARTITION BY toYYYYMM(hour)
ORDER BY (cluster, hall, row, rack, node, gpu_index, uuid, hour)
TTL hour + INTERVAL {hour_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE FUNCTION IF NOT EXISTS gpufleet_hist_quantile AS (hist, p) ->
    if(empty(hist.1), NULL, hist.1[arrayFirstIndex(c -> c >= p * arraySum(hist.2), arrayCumSum(hist.2))]);

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_hour_mv TO gpu_hour AS
SELECT
    toStartOfHour(ts) AS hour,
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
    sumMapIf([toUInt16(intDiv(assumeNotNull(power_mw), 1000))], [toUInt64(1)], isNotNull(power_mw)) AS power_w_hist,
    sumMapIf([toUInt16(greatest(assumeNotNull(gpu_temp_c), 0))], [toUInt64(1)], isNotNull(gpu_temp_c)) AS gpu_temp_c_hist,
    sumMapIf([toUInt16(greatest(assumeNotNull(mem_temp_c), 0))], [toUInt64(1)], isNotNull(mem_temp_c)) AS mem_temp_c_hist,
    sumMapIf([toUInt16(assumeNotNull(util_gpu_pct))], [toUInt64(1)], isNotNull(util_gpu_pct)) AS util_gpu_pct_hist,
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
GROUP BY hour, cluster, hall, row, rack, node, gpu_index, uuid;
