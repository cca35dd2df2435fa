-- Running jobs whose GPUs were all idle (utilization under job_idle_pct) or silent: per job,
-- the minutes of the window (since its start, if later) in which none of its GPUs was busy.
-- A hung collective, a dead data loader, a job waiting on a lost peer. One instance per job,
-- labelled with the job (cluster, job_id, user), however many GPUs it has.
SELECT j.cluster AS cluster, j.job_id AS job_id, j.user AS user,
       toFloat64(j.minutes - ifNull(a.active_minutes, 0)) AS value
FROM
(
    SELECT cluster, job_id, any(user) AS user,
           dateDiff('minute', greatest(min(start_ts), toDateTime64($__fromTime, 3, 'UTC')), toDateTime64($__toTime, 3, 'UTC')) AS minutes
    FROM gpu_job_intervals
    WHERE start_ts <= $__toTime AND (end_ts IS NULL OR end_ts > $__toTime)
    GROUP BY cluster, job_id
) AS j
LEFT JOIN
(
    SELECT cluster, job_id, countIf(busiest >= {{job_idle_pct}}) AS active_minutes
    FROM
    (
        SELECT iv.cluster AS cluster, iv.job_id AS job_id, m.minute AS minute,
               max(m.util_gpu_pct_sum / nullIf(m.util_gpu_pct_count, 0)) AS busiest
        FROM gpu_minute AS m
        INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
        WHERE $__timeFilter(m.minute) AND m.minute + 30 >= iv.start_ts AND (iv.end_ts IS NULL OR iv.end_ts > $__toTime)
        GROUP BY cluster, job_id, minute
    )
    GROUP BY cluster, job_id
) AS a ON a.cluster = j.cluster AND a.job_id = j.job_id
WHERE value >= {{job_stalled_minutes}}
SETTINGS join_use_nulls = 1
