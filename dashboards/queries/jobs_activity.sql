-- Mean utilization of the selected jobs' GPUs over time, and the least busy of them: a job
-- whose slowest GPU lags holds every step back.
SELECT time, job, avg(util) AS mean_util_pct, min(util) AS min_gpu_util_pct
FROM
(
    SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, m.node AS node, m.gpu_index AS gpu,
           sum(m.util_gpu_pct_sum) / nullIf(sum(m.util_gpu_pct_count), 0) AS util
    FROM
    (
        SELECT minute, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, util_gpu_pct_sum, util_gpu_pct_count
        FROM gpu_minute
        WHERE $__timeFilter(minute)
    ) AS m
    ASOF INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
    WHERE (iv.end_ts IS NULL OR m.midpoint < iv.end_ts) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
    GROUP BY time, job, node, gpu
)
GROUP BY time, job
ORDER BY time
