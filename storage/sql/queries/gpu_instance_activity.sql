-- GPM activity per MIG GPU instance of one GPU (or every MIG GPU of a node) in the window:
-- per instance, its profile and slices, samples, average and peak SM activity, average
-- tensor, DRAM and graphics activity, and the last time seen. Averages skip NULLs (not
-- measured); an instance never measured has NULL averages. `node` empty = every node,
-- `gpu_index` 255 = every GPU of the node; at most `limit` rows.
-- Params: node, gpu_index (255 = all), from_ms, to_ms (epoch ms), limit.
-- Defaults: node=, gpu_index=255, from_ms=now-1h, to_ms=now, limit=1000
SELECT
    node, gpu_index, any(uuid) AS uuid, gpu_instance_id, any(profile) AS profile, any(slice_count) AS slice_count,
    count() AS samples,
    round(avg(sm_active_pct), 1) AS sm_active_pct_avg,
    max(sm_active_pct) AS sm_active_pct_max,
    round(avg(tensor_active_pct), 1) AS tensor_active_pct_avg,
    round(avg(dram_active_pct), 1) AS dram_active_pct_avg,
    round(avg(graphics_active_pct), 1) AS graphics_active_pct_avg,
    max(ts) AS last_seen
FROM gpu_instance_activity
WHERE ({node:String} = '' OR node = {node:String})
  AND ({gpu_index:UInt8} = 255 OR gpu_index = {gpu_index:UInt8})
  AND ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY node, gpu_index, gpu_instance_id
ORDER BY node, gpu_index, gpu_instance_id
LIMIT {limit:UInt32}
