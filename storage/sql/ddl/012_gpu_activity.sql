-- Schema v4: what the GPU is actually doing (issue 15). GPM activity from NVML (Hopper+),
-- the driver's recovery action (field 230), the compute processes on each GPU, XID bursts.
-- Columns and codecs as declared in gpufleet/contract/columns.py; codecs chosen by
-- measurement (benchmarks/storage_codecs.py, docs/storage.md). Added columns are NULL in
-- rows stored before this migration, which is what "not measured" means.

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
    ADD COLUMN IF NOT EXISTS gpm_pcie_tx_mibps Nullable(UInt32) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_pcie_rx_mibps Nullable(UInt32) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_tx_mibps Nullable(UInt32) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS gpm_nvlink_rx_mibps Nullable(UInt32) CODEC(ZSTD(1)),
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
