-- The hottest GPUs in the window by peak core temperature, with HBM peak and the
-- clocks-event reasons seen (bitmask OR over the window).
-- Params: from_ms, to_ms (epoch ms), limit.
SELECT
    rack, node, gpu_index, uuid,
    max(gpu_temp_c) AS peak_gpu_temp_c,
    max(mem_temp_c) AS peak_mem_temp_c,
    groupBitOr(clocks_event_reasons) AS reasons_seen
FROM gpu_samples
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY rack, node, gpu_index, uuid
ORDER BY peak_gpu_temp_c DESC, peak_mem_temp_c DESC
LIMIT {limit:UInt32}
