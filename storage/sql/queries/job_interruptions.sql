-- Jobs interrupted in the window: XIDs and GPUs lost on a job's GPUs while it held them,
-- with the codes seen, the first one, and the job's end state (a GPU lost usually ends it).
-- Params: from_ms, to_ms (epoch ms), cluster ('' = all), limit.
-- Defaults: from_ms=now-24h, to_ms=now, cluster=, limit=50
WITH iv AS
(
    SELECT cluster, node, gpu_index, job_id, user, state, start_ts,
           ifNull(end_ts, toDateTime64('2100-01-01 00:00:00', 3, 'UTC')) AS end_ts
    FROM gpu_job_intervals
    WHERE start_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
      AND (end_ts IS NULL OR end_ts > fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
      AND ({cluster:String} = '' OR cluster = {cluster:String})
)
SELECT iv.cluster AS cluster, iv.job_id AS job_id, any(iv.user) AS user, any(iv.state) AS state,
       countIf(e.kind = 'xid') AS xids, countIf(e.kind = 'gpu_lost') AS gpus_lost,
       arraySort(groupUniqArrayIf(e.xid, e.kind = 'xid')) AS xid_codes,
       min(e.ts) AS first_event, uniqExact(e.node, e.gpu_index) AS gpus_hit
FROM gpu_events AS e
INNER JOIN iv ON e.cluster = iv.cluster AND e.node = iv.node AND e.gpu_index = iv.gpu_index
WHERE e.ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
  AND e.ts >= iv.start_ts AND e.ts < iv.end_ts AND e.kind IN ('xid', 'gpu_lost')
GROUP BY cluster, job_id
ORDER BY gpus_lost DESC, xids DESC, job_id
LIMIT {limit:UInt32}
