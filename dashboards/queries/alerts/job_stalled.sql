-- Running jobs whose GPUs were all idle (utilization under job_idle_pct) or silent: per job,
-- the minutes of the window (since its start, if later) in which its cluster reported but
-- none of the job's GPUs was busy. A hung collective, a dead data loader, a job waiting on
-- a lost peer. Minutes with no data from the whole cluster (a pipeline outage, before the
-- collectors started) do not count: that is the ingest-lag alert's business. One instance
-- per job, labelled with the job (cluster, job_id, user), however many GPUs it has.
SELECT j.cluster AS cluster, j.job_id AS job_id, j.user AS user, toFloat64(countIf(ifNull(b.busiest, 0) < {{job_idle_pct}})) AS value
FROM
(
    SELECT cluster, job_id, any(user) AS user, min(start_ts) AS started
    FROM gpu_job_intervals
    WHERE start_ts <= $__toTime AND (end_ts IS NULL OR end_ts > $__toTime)
    GROUP BY cluster, job_id
) AS j
INNER JOIN (SELECT DISTINCT cluster, minute FROM gpu_minute WHERE $__timeFilter(minute)) AS c ON c.cluster = j.cluster
LEFT JOIN
(
    SELECT iv.cluster AS cluster, iv.job_id AS job_id, m.minute AS minute,
           max(m.util_gpu_pct_sum / nullIf(m.util_gpu_pct_count, 0)) AS busiest
    FROM
    (
        SELECT minute, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, util_gpu_pct_sum, util_gpu_pct_count
        FROM gpu_minute
        WHERE $__timeFilter(minute)
    ) AS m
    ASOF INNER JOIN gpu_job_intervals AS iv
        ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
    WHERE iv.end_ts IS NULL OR iv.end_ts > $__toTime
    GROUP BY cluster, job_id, minute
) AS b ON b.cluster = j.cluster AND b.job_id = j.job_id AND b.minute = c.minute
WHERE c.minute + 30 >= j.started
GROUP BY cluster, job_id, user
HAVING value >= {{job_stalled_minutes}}
SETTINGS join_use_nulls = 1
