-- Schema v3 rollups: the same tables, fed more cheaply (docs/storage.md "Rollup chain").
-- Every materialized view on gpu_samples runs over each insert block, and at fleet scale the
-- blocks are wide (one row per GPU per tick), so views on raw rows set the insert rate:
-- with the six v2 views an insert ran at a quarter of its view-less rate. Only three views
-- now read raw rows (gpu_minute, power_rack_1s, gpu_latest_state); the rest are chained
-- from those, whose blocks are 25-60x smaller:
--   gpu_samples -> gpu_minute -> gpu_hour
--   gpu_samples -> power_rack_1s -> power_hall_1s -> power_fleet_1s
-- A chained view sees the blocks its source's view writes, so an insert retried with the
-- same insert_deduplication_token is dropped at every level, as before.
--
-- gpu_minute keeps the samples themselves for its four quantile metrics (whole watts,
-- degrees, percent; NULLs skipped) instead of quantilesTiming states: the same numbers,
-- read with quantilesTimingArray, and gpu_hour builds its exact histograms from them per
-- minute row rather than per raw row. Minute rows older than raw retention lose their
-- quantiles with the old columns (averages, minima, maxima stay); newer ones are refilled
-- from raw below.
-- migrate does not backfill a view whose target already holds rows (storage/migrations.py).

DROP VIEW IF EXISTS gpu_minute_mv;
DROP VIEW IF EXISTS gpu_hour_mv;
DROP VIEW IF EXISTS power_hall_1s_mv;
DROP VIEW IF EXISTS power_fleet_1s_mv;

ALTER TABLE gpu_minute
    DROP COLUMN IF EXISTS power_w_q,
    DROP COLUMN IF EXISTS gpu_temp_c_q,
    DROP COLUMN IF EXISTS mem_temp_c_q,
    DROP COLUMN IF EXISTS util_gpu_pct_q,
    ADD COLUMN IF NOT EXISTS util_gpu_pct_values SimpleAggregateFunction(groupArrayArray, Array(UInt16)) CODEC(ZSTD(1)) AFTER sm_clock_mhz_max,
    ADD COLUMN IF NOT EXISTS mem_temp_c_values SimpleAggregateFunction(groupArrayArray, Array(UInt16)) CODEC(ZSTD(1)) AFTER sm_clock_mhz_max,
    ADD COLUMN IF NOT EXISTS gpu_temp_c_values SimpleAggregateFunction(groupArrayArray, Array(UInt16)) CODEC(ZSTD(1)) AFTER sm_clock_mhz_max,
    ADD COLUMN IF NOT EXISTS power_w_values SimpleAggregateFunction(groupArrayArray, Array(UInt16)) CODEC(ZSTD(1)) AFTER sm_clock_mhz_max;

-- The samples of minutes still in raw retention, for rows the old view wrote: rows with only
-- keys and *_values (samples 0, other aggregates NULL or 0) merge into the existing ones
-- without changing them. The token makes a re-run of a half-applied migration a no-op.
INSERT INTO gpu_minute (minute, cluster, hall, row, rack, node, gpu_index, uuid,
                        power_w_values, gpu_temp_c_values, mem_temp_c_values, util_gpu_pct_values)
SETTINGS insert_deduplication_token = 'migration-011-minute-values'
SELECT
    toStartOfMinute(ts) AS minute, cluster, hall, row, rack, node, gpu_index, uuid,
    groupArray(toUInt16(intDiv(power_mw, 1000))),
    groupArray(toUInt16(greatest(gpu_temp_c, 0))),
    groupArray(toUInt16(greatest(mem_temp_c, 0))),
    groupArray(toUInt16(util_gpu_pct))
FROM gpu_samples
GROUP BY minute, cluster, hall, row, rack, node, gpu_index, uuid;

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
    groupArray(toUInt16(intDiv(power_mw, 1000))) AS power_w_values,
    groupArray(toUInt16(greatest(gpu_temp_c, 0))) AS gpu_temp_c_values,
    groupArray(toUInt16(greatest(mem_temp_c, 0))) AS mem_temp_c_values,
    groupArray(toUInt16(util_gpu_pct)) AS util_gpu_pct_values,
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

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_hour_mv TO gpu_hour AS
SELECT
    toStartOfHour(m.minute) AS hour,
    m.cluster AS cluster, m.hall AS hall, m.row AS row, m.rack AS rack, m.node AS node, m.gpu_index AS gpu_index, m.uuid AS uuid,
    sum(m.samples) AS samples,
    sum(m.power_mw_sum) AS power_mw_sum,
    sum(m.power_mw_count) AS power_mw_count,
    min(m.power_mw_min) AS power_mw_min,
    max(m.power_mw_max) AS power_mw_max,
    sum(m.gpu_temp_c_sum) AS gpu_temp_c_sum,
    sum(m.gpu_temp_c_count) AS gpu_temp_c_count,
    min(m.gpu_temp_c_min) AS gpu_temp_c_min,
    max(m.gpu_temp_c_max) AS gpu_temp_c_max,
    sum(m.mem_temp_c_sum) AS mem_temp_c_sum,
    sum(m.mem_temp_c_count) AS mem_temp_c_count,
    min(m.mem_temp_c_min) AS mem_temp_c_min,
    max(m.mem_temp_c_max) AS mem_temp_c_max,
    sum(m.util_gpu_pct_sum) AS util_gpu_pct_sum,
    sum(m.util_gpu_pct_count) AS util_gpu_pct_count,
    min(m.util_gpu_pct_min) AS util_gpu_pct_min,
    max(m.util_gpu_pct_max) AS util_gpu_pct_max,
    sum(m.sm_clock_mhz_sum) AS sm_clock_mhz_sum,
    sum(m.sm_clock_mhz_count) AS sm_clock_mhz_count,
    min(m.sm_clock_mhz_min) AS sm_clock_mhz_min,
    max(m.sm_clock_mhz_max) AS sm_clock_mhz_max,
    sumMap(arrayDistinct(m.power_w_values) AS power_w_keys, arrayMap(k -> toUInt64(countEqual(m.power_w_values, k)), power_w_keys)) AS power_w_hist,
    sumMap(arrayDistinct(m.gpu_temp_c_values) AS gpu_temp_c_keys, arrayMap(k -> toUInt64(countEqual(m.gpu_temp_c_values, k)), gpu_temp_c_keys)) AS gpu_temp_c_hist,
    sumMap(arrayDistinct(m.mem_temp_c_values) AS mem_temp_c_keys, arrayMap(k -> toUInt64(countEqual(m.mem_temp_c_values, k)), mem_temp_c_keys)) AS mem_temp_c_hist,
    sumMap(arrayDistinct(m.util_gpu_pct_values) AS util_gpu_pct_keys, arrayMap(k -> toUInt64(countEqual(m.util_gpu_pct_values, k)), util_gpu_pct_keys)) AS util_gpu_pct_hist,
    groupBitOr(m.reasons_seen) AS reasons_seen,
    sum(m.thermal_samples) AS thermal_samples,
    sum(m.power_cap_samples) AS power_cap_samples,
    sum(m.power_brake_samples) AS power_brake_samples,
    sum(m.hw_slowdown_samples) AS hw_slowdown_samples,
    min(m.energy_mj_min) AS energy_mj_min,
    max(m.energy_mj_max) AS energy_mj_max,
    min(m.ecc_corrected_count_min) AS ecc_corrected_count_min,
    max(m.ecc_corrected_count_max) AS ecc_corrected_count_max,
    min(m.ecc_uncorrected_count_min) AS ecc_uncorrected_count_min,
    max(m.ecc_uncorrected_count_max) AS ecc_uncorrected_count_max,
    min(m.pcie_replay_count_min) AS pcie_replay_count_min,
    max(m.pcie_replay_count_max) AS pcie_replay_count_max,
    min(m.nvlink_crc_errors_min) AS nvlink_crc_errors_min,
    max(m.nvlink_crc_errors_max) AS nvlink_crc_errors_max,
    min(m.nvlink_replay_errors_min) AS nvlink_replay_errors_min,
    max(m.nvlink_replay_errors_max) AS nvlink_replay_errors_max,
    min(m.nvlink_recovery_errors_min) AS nvlink_recovery_errors_min,
    max(m.nvlink_recovery_errors_max) AS nvlink_recovery_errors_max,
    min(m.remapped_rows_uncorrectable_min) AS remapped_rows_uncorrectable_min,
    max(m.remapped_rows_uncorrectable_max) AS remapped_rows_uncorrectable_max,
    max(m.remap_pending_any) AS remap_pending_any,
    max(m.remap_failure_any) AS remap_failure_any
FROM gpu_minute AS m
GROUP BY hour, cluster, hall, row, rack, node, gpu_index, uuid;

CREATE MATERIALIZED VIEW IF NOT EXISTS power_hall_1s_mv TO power_hall_1s AS
SELECT r.ts AS ts, r.cluster AS cluster, r.hall AS hall, sum(r.power_mw) AS power_mw, sum(r.power_instant_mw) AS power_instant_mw, sum(r.gpus) AS gpus
FROM power_rack_1s AS r
GROUP BY ts, cluster, hall;

CREATE MATERIALIZED VIEW IF NOT EXISTS power_fleet_1s_mv TO power_fleet_1s AS
SELECT r.ts AS ts, r.cluster AS cluster, sum(r.power_mw) AS power_mw, sum(r.power_instant_mw) AS power_instant_mw, sum(r.gpus) AS gpus
FROM power_hall_1s AS r
GROUP BY ts, cluster;
