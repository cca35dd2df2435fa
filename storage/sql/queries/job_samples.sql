-- The raw samples of one job: every gpu_samples row whose (cluster, node, gpu_index) is one of
-- the job's GPUs and whose ts lies in that GPU's interval [start, end) — a sample taken at the
-- instant a job ends belongs to the next one. The join is made here, at query time: sample
-- rows carry no job labels. Params: job_id, cluster ('' = any), limit.
-- Defaults: job_id=, cluster=, limit=10000
WITH iv AS
(
    SELECT cluster, node, gpu_index, start_ts, ifNull(end_ts, toDateTime64('2100-01-01 00:00:00', 3, 'UTC')) AS end_ts
    FROM gpu_job_intervals
    WHERE job_id = {job_id:String} AND ({cluster:String} = '' OR cluster = {cluster:String})
)
SELECT s.ts AS ts, s.node AS node, s.gpu_index AS gpu_index, s.uuid AS uuid,
       s.power_mw / 1000 AS power_w, s.util_gpu_pct AS util_gpu_pct, s.sm_clock_mhz AS sm_clock_mhz
FROM gpu_samples AS s
INNER JOIN iv ON s.cluster = iv.cluster AND s.node = iv.node AND s.gpu_index = iv.gpu_index
WHERE s.ts >= iv.start_ts AND s.ts < iv.end_ts
  AND s.ts >= (SELECT min(start_ts) FROM iv) AND s.ts < (SELECT max(end_ts) FROM iv)
ORDER BY ts, node, gpu_index
LIMIT {limit:UInt32}
