-- Schema v4: what the GPU is actually doing (issue 15). GPM activity from NVML (Hopper+),
-- the driver's recovery action (field 230), the compute processes on each GPU, XID bursts.
-- Columns and codecs as declared in gpufleet/contract/columns.py; codecs chosen by
-- measurement with 002's rule (benchmarks/storage_codecs.py, table in docs/storage.md):
-- the percentages stay on ZSTD(1) (ZSTD(3) saves under 3 %), the GPM throughputs take
-- DoubleDelta (0.19 -> 0.02 B/value); whole-percent UInt8 is 0.4-0.7 B/value where Float32
-- with NVML's fractions is 2.3-2.9. Added columns are NULL in rows stored before this
-- migration, which is what "not measured" means.

ALTER TABLE gpu_samples
    ADD COLUMN IF NOT EXISTS sm_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_occupancy_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS hmma_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS dram_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp64_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp32_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp16_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS graphics_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS recovery_action Nullable(UInt8) CODEC(ZSTD(1));

ALTER TABLE gpu_events
    ADD COLUMN IF NOT EXISTS recovery_action Nullable(UInt8);

-- One row per process per GPU per publish (every few seconds, not per sample): the base
-- for job attribution. Sorted by GPU then time, so "what ran on this GPU" reads one range.
CREATE TABLE IF NOT EXISTS gpu_processes
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    uuid LowCardinality(String),
    pid UInt32 CODEC(ZSTD(1)),
    used_mem_mib Nullable(UInt32) CODEC(ZSTD(1)),
    gpu_instance_id Nullable(UInt32),
    compute_instance_id Nullable(UInt32)
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, node, gpu_index, ts, pid)
TTL toDateTime(ts) + INTERVAL {raw_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;


-- Activity rollups: sum and count per GPM metric (avg = sum / count, exact, NULLs skipped),
-- min/max for SM, tensor and DRAM activity (heat maps, the stall rule), and
-- `stalled_samples`: samples with utilization.gpu >= 90 % while SM activity <= 5 % (a hung
-- kernel or collective: busy, doing nothing; the "GPU stalled" rule sums them). Minutes
-- stored before this migration keep 0 counts for these (activity was not measured then).
-- The views are recreated with the extra aggregates (stop ingest while migrating, as for 011).
DROP VIEW IF EXISTS gpu_minute_mv;
DROP VIEW IF EXISTS gpu_hour_mv;

ALTER TABLE gpu_minute
    ADD COLUMN IF NOT EXISTS sm_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_occupancy_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_occupancy_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS hmma_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS hmma_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp64_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp64_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp32_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp32_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp16_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp16_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS graphics_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS graphics_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS stalled_samples SimpleAggregateFunction(sum, UInt64),
    ADD COLUMN IF NOT EXISTS recovery_action_max SimpleAggregateFunction(max, Nullable(UInt8));

ALTER TABLE gpu_hour
    ADD COLUMN IF NOT EXISTS sm_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_occupancy_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_occupancy_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS hmma_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS hmma_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp64_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp64_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp32_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp32_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp16_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS fp16_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS graphics_active_pct_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS graphics_active_pct_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps_sum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps_count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS sm_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS tensor_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_min SimpleAggregateFunction(min, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS dram_active_pct_max SimpleAggregateFunction(max, Nullable(UInt8)),
    ADD COLUMN IF NOT EXISTS stalled_samples SimpleAggregateFunction(sum, UInt64),
    ADD COLUMN IF NOT EXISTS recovery_action_max SimpleAggregateFunction(max, Nullable(UInt8));

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
    max(remap_failure) AS remap_failure_any,
    sum(ifNull(sm_active_pct, 0)) AS sm_active_pct_sum,
    count(sm_active_pct) AS sm_active_pct_count,
    sum(ifNull(sm_occupancy_pct, 0)) AS sm_occupancy_pct_sum,
    count(sm_occupancy_pct) AS sm_occupancy_pct_count,
    sum(ifNull(tensor_active_pct, 0)) AS tensor_active_pct_sum,
    count(tensor_active_pct) AS tensor_active_pct_count,
    sum(ifNull(hmma_active_pct, 0)) AS hmma_active_pct_sum,
    count(hmma_active_pct) AS hmma_active_pct_count,
    sum(ifNull(dram_active_pct, 0)) AS dram_active_pct_sum,
    count(dram_active_pct) AS dram_active_pct_count,
    sum(ifNull(fp64_active_pct, 0)) AS fp64_active_pct_sum,
    count(fp64_active_pct) AS fp64_active_pct_count,
    sum(ifNull(fp32_active_pct, 0)) AS fp32_active_pct_sum,
    count(fp32_active_pct) AS fp32_active_pct_count,
    sum(ifNull(fp16_active_pct, 0)) AS fp16_active_pct_sum,
    count(fp16_active_pct) AS fp16_active_pct_count,
    sum(ifNull(graphics_active_pct, 0)) AS graphics_active_pct_sum,
    count(graphics_active_pct) AS graphics_active_pct_count,
    sum(ifNull(gpm_pcie_tx_mibps, 0)) AS gpm_pcie_tx_mibps_sum,
    count(gpm_pcie_tx_mibps) AS gpm_pcie_tx_mibps_count,
    sum(ifNull(gpm_pcie_rx_mibps, 0)) AS gpm_pcie_rx_mibps_sum,
    count(gpm_pcie_rx_mibps) AS gpm_pcie_rx_mibps_count,
    sum(ifNull(gpm_nvlink_tx_mibps, 0)) AS gpm_nvlink_tx_mibps_sum,
    count(gpm_nvlink_tx_mibps) AS gpm_nvlink_tx_mibps_count,
    sum(ifNull(gpm_nvlink_rx_mibps, 0)) AS gpm_nvlink_rx_mibps_sum,
    count(gpm_nvlink_rx_mibps) AS gpm_nvlink_rx_mibps_count,
    min(sm_active_pct) AS sm_active_pct_min,
    max(sm_active_pct) AS sm_active_pct_max,
    min(tensor_active_pct) AS tensor_active_pct_min,
    max(tensor_active_pct) AS tensor_active_pct_max,
    min(dram_active_pct) AS dram_active_pct_min,
    max(dram_active_pct) AS dram_active_pct_max,
    countIf(util_gpu_pct >= 90 AND sm_active_pct <= 5) AS stalled_samples,
    max(recovery_action) AS recovery_action_max
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
    max(m.remap_failure_any) AS remap_failure_any,
    sum(m.sm_active_pct_sum) AS sm_active_pct_sum,
    sum(m.sm_active_pct_count) AS sm_active_pct_count,
    sum(m.sm_occupancy_pct_sum) AS sm_occupancy_pct_sum,
    sum(m.sm_occupancy_pct_count) AS sm_occupancy_pct_count,
    sum(m.tensor_active_pct_sum) AS tensor_active_pct_sum,
    sum(m.tensor_active_pct_count) AS tensor_active_pct_count,
    sum(m.hmma_active_pct_sum) AS hmma_active_pct_sum,
    sum(m.hmma_active_pct_count) AS hmma_active_pct_count,
    sum(m.dram_active_pct_sum) AS dram_active_pct_sum,
    sum(m.dram_active_pct_count) AS dram_active_pct_count,
    sum(m.fp64_active_pct_sum) AS fp64_active_pct_sum,
    sum(m.fp64_active_pct_count) AS fp64_active_pct_count,
    sum(m.fp32_active_pct_sum) AS fp32_active_pct_sum,
    sum(m.fp32_active_pct_count) AS fp32_active_pct_count,
    sum(m.fp16_active_pct_sum) AS fp16_active_pct_sum,
    sum(m.fp16_active_pct_count) AS fp16_active_pct_count,
    sum(m.graphics_active_pct_sum) AS graphics_active_pct_sum,
    sum(m.graphics_active_pct_count) AS graphics_active_pct_count,
    sum(m.gpm_pcie_tx_mibps_sum) AS gpm_pcie_tx_mibps_sum,
    sum(m.gpm_pcie_tx_mibps_count) AS gpm_pcie_tx_mibps_count,
    sum(m.gpm_pcie_rx_mibps_sum) AS gpm_pcie_rx_mibps_sum,
    sum(m.gpm_pcie_rx_mibps_count) AS gpm_pcie_rx_mibps_count,
    sum(m.gpm_nvlink_tx_mibps_sum) AS gpm_nvlink_tx_mibps_sum,
    sum(m.gpm_nvlink_tx_mibps_count) AS gpm_nvlink_tx_mibps_count,
    sum(m.gpm_nvlink_rx_mibps_sum) AS gpm_nvlink_rx_mibps_sum,
    sum(m.gpm_nvlink_rx_mibps_count) AS gpm_nvlink_rx_mibps_count,
    min(m.sm_active_pct_min) AS sm_active_pct_min,
    max(m.sm_active_pct_max) AS sm_active_pct_max,
    min(m.tensor_active_pct_min) AS tensor_active_pct_min,
    max(m.tensor_active_pct_max) AS tensor_active_pct_max,
    min(m.dram_active_pct_min) AS dram_active_pct_min,
    max(m.dram_active_pct_max) AS dram_active_pct_max,
    sum(m.stalled_samples) AS stalled_samples,
    max(m.recovery_action_max) AS recovery_action_max
FROM gpu_minute AS m
GROUP BY hour, cluster, hall, row, rack, node, gpu_index, uuid;

-- Latest state gains the recovery action and the headline activity figures, so "which GPUs
-- need recovery" and "what is each GPU doing now" read ~200k rows, not raw samples.
DROP VIEW IF EXISTS gpu_latest_state_mv;
DROP VIEW IF EXISTS gpu_latest;

ALTER TABLE gpu_latest_state
    ADD COLUMN IF NOT EXISTS recovery_action Nullable(UInt8),
    ADD COLUMN IF NOT EXISTS sm_active_pct Nullable(UInt8),
    ADD COLUMN IF NOT EXISTS tensor_active_pct Nullable(UInt8),
    ADD COLUMN IF NOT EXISTS dram_active_pct Nullable(UInt8);

CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_latest_state_mv TO gpu_latest_state AS
SELECT
    cluster, node, gpu_index, ts,
    s.1 AS hall, s.2 AS row, s.3 AS rack, s.4 AS uuid, s.5 AS power_mw, s.6 AS gpu_temp_c, s.7 AS mem_temp_c,
    s.8 AS util_gpu_pct, s.9 AS mem_used_mib, s.10 AS sm_clock_mhz, s.11 AS clocks_event_reasons, s.12 AS pstate,
    s.13 AS ecc_uncorrected_count, s.14 AS remap_pending, s.15 AS remap_failure, s.16 AS recovery_action,
    s.17 AS sm_active_pct, s.18 AS tensor_active_pct, s.19 AS dram_active_pct
FROM
(
    SELECT
        raw.cluster AS cluster, raw.node AS node, raw.gpu_index AS gpu_index,
        max(raw.ts) AS ts,
        argMax((raw.hall, raw.row, raw.rack, raw.uuid, raw.power_mw, raw.gpu_temp_c, raw.mem_temp_c, raw.util_gpu_pct,
                raw.mem_used_mib, raw.sm_clock_mhz, raw.clocks_event_reasons, raw.pstate, raw.ecc_uncorrected_count,
                raw.remap_pending, raw.remap_failure, raw.recovery_action, raw.sm_active_pct, raw.tensor_active_pct,
                raw.dram_active_pct), raw.ts) AS s
    FROM gpu_samples AS raw
    GROUP BY raw.cluster, raw.node, raw.gpu_index
);

CREATE VIEW IF NOT EXISTS gpu_latest AS
SELECT
    cluster, hall, row, rack, node, gpu_index, uuid, ts,
    dateDiff('millisecond', ts, now64(3)) / 1000 AS age_s,
    power_mw, gpu_temp_c, mem_temp_c, util_gpu_pct, mem_used_mib, sm_clock_mhz, clocks_event_reasons, pstate,
    ecc_uncorrected_count, remap_pending, remap_failure, recovery_action, sm_active_pct, tensor_active_pct, dram_active_pct
FROM gpu_latest_state FINAL;

-- XID bursts (NVIDIA Fleet Intelligence's grouping): a GPU's XIDs belong to one burst until
-- more than 3 minutes pass without one. One row per burst: first and last time, how many
-- events, which XIDs, whether any is fatal, and the catalog's actions. Over the whole
-- events table (XIDs are rare: tens per GPU-year); readers filter on first_ts/last_ts.
CREATE VIEW IF NOT EXISTS gpu_xid_bursts AS
SELECT
    cluster, hall, rack, node, gpu_index, any(uuid) AS uuid, burst,
    min(ts) AS first_ts, max(ts) AS last_ts, count() AS events,
    arraySort(groupUniqArray(xid)) AS xids,
    arraySort(groupUniqArrayIf(xid, is_fatal)) AS fatal_xids,
    max(is_fatal) AS fatal,
    arraySort(groupUniqArray(action)) AS actions
FROM
(
    SELECT *, sum(starts) OVER (PARTITION BY cluster, node, gpu_index ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS burst
    FROM
    (
        SELECT
            cluster, hall, rack, node, ifNull(gpu_index, 255) AS gpu_index, uuid, ts, xid, fatal AS is_fatal, action,
            toUInt32(dateDiff('millisecond',
                              lagInFrame(ts, 1, toDateTime64(0, 3, 'UTC')) OVER (PARTITION BY cluster, node, ifNull(gpu_index, 255) ORDER BY ts
                                                                  ROWS BETWEEN 1 PRECEDING AND CURRENT ROW),
                              ts) > 180000) AS starts
        FROM xid_events
    )
)
GROUP BY cluster, hall, rack, node, gpu_index, burst;
