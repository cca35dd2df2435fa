-- Jobs that held GPUs at any time in the window, newest first: who ran them, where, how many
-- nodes and GPUs, start, end (NULL while running), final state, and GPU-hours allocated in
-- the window (an open interval counts up to to_ms). From gpu_job_intervals; no samples read.
-- Params: from_ms, to_ms (epoch ms), cluster ('' = all), limit.
-- Defaults: from_ms=now-24h, to_ms=now, cluster=, limit=100
SELECT
    cluster, job_id, any(user) AS user, any(account) AS account, any(partition) AS partition, any(name) AS name,
    any(source) AS source, uniqExact(node) AS nodes, count() AS gpus,
    min(start_ts) AS started, if(countIf(end_ts IS NULL) > 0, NULL, max(end_ts)) AS ended, any(state) AS state,
    round(sum(dateDiff('millisecond',
        greatest(start_ts, fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')),
        least(ifNull(end_ts, fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')), fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC'))
    )) / 3.6e6, 3) AS gpu_hours
FROM gpu_job_intervals
WHERE start_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
  AND (end_ts IS NULL OR end_ts > fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
  AND ({cluster:String} = '' OR cluster = {cluster:String})
GROUP BY cluster, job_id
ORDER BY started DESC, job_id
LIMIT {limit:UInt32}
