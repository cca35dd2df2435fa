-- Jobs that held GPUs during the range: who, where, how big, since when, and how they ended.
SELECT job_id, any(user) AS user, any(account) AS account, any(partition) AS partition, any(name) AS name,
       uniqExact(node) AS nodes, count() AS gpus, min(start_ts) AS started,
       if(countIf(end_ts IS NULL) > 0, NULL, max(end_ts)) AS ended, any(state) AS state
FROM gpu_job_intervals
WHERE start_ts <= $__toTime AND (end_ts IS NULL OR end_ts >= $__fromTime) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
GROUP BY job_id
ORDER BY started DESC
LIMIT 500
