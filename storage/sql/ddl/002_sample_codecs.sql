-- Schema v2: gpu_samples codecs chosen by measurement (benchmarks/storage_codecs.py, table
-- in docs/storage.md: bytes per value of every candidate codec on 1,024 synthetic GPUs x 1 h).
-- Rule: change v1's codec only where a candidate saves at least 5 % and 0.005 B/value; among
-- candidates within 3 % of the best, take the one on ZSTD(1) (cheaper to compress at
-- 200,000 rows/s than ZSTD(3)). Columns not listed keep v1's codec, already the best or
-- within that margin.
-- ALTER ... MODIFY COLUMN with the same type changes only the codec: existing parts keep
-- their bytes until they merge, new parts use the new codec; no row is rewritten or lost.

-- a running counter: deltas first, then T64 packs the small deltas' bits (2.44 -> 2.26 B)
ALTER TABLE gpu_samples MODIFY COLUMN energy_mj Nullable(UInt64) CODEC(Delta, T64, ZSTD(1));
-- temperatures drift slowly around a level: DoubleDelta beats Delta (0.20 -> 0.15 B)
ALTER TABLE gpu_samples MODIFY COLUMN gpu_temp_c Nullable(Int16) CODEC(DoubleDelta, ZSTD(1));
-- HBM temperature: plain ZSTD(3) wins by > 3 % over every ZSTD(1) pipeline (0.23 -> 0.18 B)
ALTER TABLE gpu_samples MODIFY COLUMN mem_temp_c Nullable(Int16) CODEC(ZSTD(3));
-- utilization jumps between phase levels: deltas only add entropy (0.45 -> 0.39 / 0.29 -> 0.25 B)
ALTER TABLE gpu_samples MODIFY COLUMN util_gpu_pct Nullable(UInt8) CODEC(ZSTD(1));
ALTER TABLE gpu_samples MODIFY COLUMN util_mem_pct Nullable(UInt8) CODEC(ZSTD(3));
-- mostly one value per GPU for long stretches (0.009 -> 0.004 B)
ALTER TABLE gpu_samples MODIFY COLUMN mem_used_mib Nullable(UInt32) CODEC(ZSTD(1));
-- a bitmask with few distinct values per GPU: T64 keeps only the used bits (0.040 -> 0.012 B)
ALTER TABLE gpu_samples MODIFY COLUMN clocks_event_reasons Nullable(UInt64) CODEC(T64, ZSTD(1));
-- PCIe throughput switches between phase levels: Delta turns runs into zeros (0.135 -> 0.023 B)
ALTER TABLE gpu_samples MODIFY COLUMN pcie_tx_kbps Nullable(UInt32) CODEC(Delta, ZSTD(1));
ALTER TABLE gpu_samples MODIFY COLUMN pcie_rx_kbps Nullable(UInt32) CODEC(Delta, ZSTD(1));
-- NVLink byte counters grow at a steady rate per phase: DoubleDelta (0.085 -> 0.071 B)
ALTER TABLE gpu_samples MODIFY COLUMN nvlink_tx_kib Nullable(UInt64) CODEC(DoubleDelta, ZSTD(1));
ALTER TABLE gpu_samples MODIFY COLUMN nvlink_rx_kib Nullable(UInt64) CODEC(DoubleDelta, ZSTD(1));
