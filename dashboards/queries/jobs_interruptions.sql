-- Jobs hit in the range by XIDs or GPUs lost on their GPUs while they held them.
SELECT iv.job_id AS job_id, any(iv.user) AS user, any(iv.state) AS state, countIf(e.kind = 'xid') AS xids,
       countIf(e.kind = 'gpu_lost') AS gpus_lost, arrayStringConcat(arraySort(groupUniqArrayIf(toString(e.xid), e.kind = 'xid')), ',') AS xid_codes
FROM gpu_events AS e
INNER JOIN gpu_job_intervals AS iv ON e.cluster = iv.cluster AND e.node = iv.node AND e.gpu_index = iv.gpu_index
WHERE $__timeFilter(e.ts) AND e.kind IN ('xid', 'gpu_lost') AND $__conditionalAll(e.cluster IN (${cluster:singlequote}), $cluster)
  AND e.ts >= iv.start_ts AND (iv.end_ts IS NULL OR e.ts < iv.end_ts)
GROUP BY job_id
ORDER BY gpus_lost DESC, xids DESC
LIMIT 100
