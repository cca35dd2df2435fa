-- The hottest GPUs in the window by peak core temperature, with HBM peak, average core
-- temperature and the clocks-event reasons seen (bitmask OR), in one pass over the window's
-- whole hours from gpu_hour and its partial hours from gpu_minute (24x fewer rows over 24 h). (A p99 column would take quantiles over every GPU's samples in the window,
-- ~3x the cost over 24 h, measured; gpu_minute.gpu_temp_c_values has it for a chosen GPU.) GPUs are
-- grouped by uuid alone: a GPU's rack and node do not change within a window, and one key
-- hashes ~2x faster than four.
-- Params: from_ms, to_ms (epoch ms), limit.
-- Defaults: from_ms=now-24h, to_ms=now, limit=10
SELECT
    any(rack) AS rack, any(node) AS node, any(gpu_index) AS gpu_index, uuid,
    max(gpu_temp_c_max) AS peak_gpu_temp_c,
    max(mem_temp_c_max) AS peak_mem_temp_c,
    round(sum(gpu_temp_c_sum) / nullIf(sum(gpu_temp_c_count), 0), 1) AS avg_gpu_temp_c,
    groupBitOr(reasons_seen) AS reasons_seen
FROM
(
    -- @include gpu_rollup_window(rack, node, gpu_index, uuid, gpu_temp_c_max, mem_temp_c_max, gpu_temp_c_sum, gpu_temp_c_count, reasons_seen)
)
GROUP BY uuid
ORDER BY peak_gpu_temp_c DESC, peak_mem_temp_c DESC, node, gpu_index
LIMIT {limit:UInt32}
