-- The compute processes seen on a node's GPUs in the window (published every 5 s): per GPU
-- and pid, first and last time seen and the most GPU memory held. `node` empty = every node,
-- `gpu_index` 255 = every GPU of the node; at most `limit` rows. The base for job
-- attribution (a job is its processes' interval).
-- Params: node, gpu_index (255 = all), from_ms, to_ms (epoch ms), limit.
-- Defaults: node=, gpu_index=255, from_ms=now-24h, to_ms=now, limit=1000
SELECT node, gpu_index, uuid, pid, min(ts) AS first_seen, max(ts) AS last_seen, max(used_mem_mib) AS max_used_mem_mib
FROM gpu_processes
WHERE ({node:String} = '' OR node = {node:String})
  AND ({gpu_index:UInt8} = 255 OR gpu_index = {gpu_index:UInt8})
  AND ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY node, gpu_index, uuid, pid
ORDER BY node, gpu_index, first_seen, pid
LIMIT {limit:UInt32}
