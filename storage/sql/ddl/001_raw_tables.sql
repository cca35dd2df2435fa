-- Schema v1: raw tables. One wide row per GPU per sample (DESIGN.md "Storage").
-- Integer columns keep NVML's native units; codecs per shared/reference/pipeline-libraries.md §3.
-- non_replicated_deduplication_window makes retried inserts with the same
-- insert_deduplication_token land once (the ingest service's exactly-once effect).

CREATE TABLE IF NOT EXISTS gpu_samples
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    uuid LowCardinality(String),
    gpu_index UInt8,
    seq UInt64 CODEC(Delta, ZSTD(1)),
    power_mw Nullable(UInt32) CODEC(T64, ZSTD(1)),
    power_instant_mw Nullable(UInt32) CODEC(T64, ZSTD(1)),
    energy_mj Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    power_limit_mw Nullable(UInt32) CODEC(Delta, ZSTD(1)),
    gpu_temp_c Nullable(Int16) CODEC(Delta, ZSTD(1)),
    mem_temp_c Nullable(Int16) CODEC(Delta, ZSTD(1)),
    util_gpu_pct Nullable(UInt8) CODEC(Delta, ZSTD(1)),
    util_mem_pct Nullable(UInt8) CODEC(Delta, ZSTD(1)),
    mem_used_mib Nullable(UInt32) CODEC(T64, ZSTD(1)),
    mem_total_mib Nullable(UInt32) CODEC(Delta, ZSTD(1)),
    sm_clock_mhz Nullable(UInt16) CODEC(ZSTD(1)),
    mem_clock_mhz Nullable(UInt16) CODEC(ZSTD(1)),
    clocks_event_reasons Nullable(UInt64) CODEC(ZSTD(1)),
    pstate Nullable(UInt8) CODEC(ZSTD(1)),
    ecc_corrected_count Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    ecc_uncorrected_count Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    remapped_rows_correctable Nullable(UInt16) CODEC(Delta, ZSTD(1)),
    remapped_rows_uncorrectable Nullable(UInt16) CODEC(Delta, ZSTD(1)),
    remap_pending Nullable(Bool) CODEC(ZSTD(1)),
    remap_failure Nullable(Bool) CODEC(ZSTD(1)),
    pcie_tx_kbps Nullable(UInt32) CODEC(T64, ZSTD(1)),
    pcie_rx_kbps Nullable(UInt32) CODEC(T64, ZSTD(1)),
    pcie_replay_count Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    nvlink_tx_kib Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    nvlink_rx_kib Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    nvlink_crc_errors Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    nvlink_replay_errors Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    nvlink_recovery_errors Nullable(UInt64) CODEC(Delta, ZSTD(1)),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (cluster, node, gpu_index, ts)
TTL toDateTime(ts) + INTERVAL {raw_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS gpu_events
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index Nullable(UInt8),
    uuid Nullable(String),
    kind LowCardinality(String),
    xid Nullable(UInt16),
    severity LowCardinality(String),
    detail String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (cluster, node, ts)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS gpu_inventory
(
    ts DateTime64(3, 'UTC'),
    cluster LowCardinality(String),
    hall LowCardinality(String),
    row LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    uuid String,
    serial Nullable(String),
    model LowCardinality(String),
    pci_bus_id Nullable(String),
    driver_version LowCardinality(Nullable(String)),
    cuda_version LowCardinality(Nullable(String)),
    vbios_version LowCardinality(Nullable(String)),
    mem_total_mib Nullable(UInt32),
    power_limit_default_mw Nullable(UInt32),
    power_limit_min_mw Nullable(UInt32),
    power_limit_max_mw Nullable(UInt32),
    temp_shutdown_c Nullable(Int16),
    temp_slowdown_c Nullable(Int16),
    temp_gpu_max_c Nullable(Int16),
    temp_mem_max_c Nullable(Int16),
    mig_mode Nullable(Bool)
)
ENGINE = ReplacingMergeTree(ts)
ORDER BY (cluster, node, uuid)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS dead_letters
(
    ts DateTime64(3, 'UTC') DEFAULT now64(3),
    source LowCardinality(String),
    reason String,
    node Nullable(String),
    payload String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY ts
SETTINGS non_replicated_deduplication_window = 10000;
