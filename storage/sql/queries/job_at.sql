-- Which job held a GPU at a moment: the job whose interval [start, end) on that cluster, node
-- and GPU index contains at_ms (an open end means still running). Exactly one row while a
-- job held the GPU, none while it was free; the same rule attributes every sample to a job.
-- Params: cluster, node, gpu_index, at_ms (epoch ms).
-- Defaults: cluster=colossus, node=node-00000, gpu_index=0, at_ms=now
SELECT cluster, node, gpu_index, job_id, user, account, partition, name, source, start_ts, end_ts, state
FROM gpu_job_intervals
WHERE cluster = {cluster:String} AND node = {node:String} AND gpu_index = {gpu_index:UInt8}
  AND start_ts <= fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC')
  AND (end_ts IS NULL OR end_ts > fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC'))
ORDER BY start_ts
