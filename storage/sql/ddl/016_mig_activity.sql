-- GPM activity per MIG GPU instance (issue 15; nvmlGpmMigSampleGet), what
-- dcgm-exporter reports for entity GPU_I. One row per GPU instance per tick, from MIG-enabled
-- GPUs only (a GPU without MIG adds none), so the table stays small beside gpu_samples.
-- Metric columns, types and codecs as gpu_samples' GPM columns (migration 012; chosen by
-- measurement there): whole percent UInt8 on ZSTD(1), MiB/s UInt32 on DoubleDelta. NULL =
-- not measured (the instance could not be sampled, or NVML does not support the metric).
-- Sorted by GPU, instance, then time: "what did each instance of this GPU do" reads one range.
CREATE TABLE IF NOT EXISTS gpu_instance_activity
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    uuid LowCardinality(String),
    gpu_instance_id UInt32,
    profile LowCardinality(Nullable(String)),
    slice_count Nullable(UInt8),
    sm_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    sm_occupancy_pct Nullable(UInt8) CODEC(ZSTD(1)),
    tensor_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    hmma_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    dram_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    fp64_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    fp32_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    fp16_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    graphics_active_pct Nullable(UInt8) CODEC(ZSTD(1)),
    gpm_pcie_tx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    gpm_pcie_rx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    gpm_nvlink_tx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1)),
    gpm_nvlink_rx_mibps Nullable(UInt32) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, node, gpu_index, gpu_instance_id, ts)
TTL toDateTime(ts) + INTERVAL {raw_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
