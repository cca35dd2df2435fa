-- Mean utilization of the selected jobs' GPUs over time, and the least busy of them: a job
-- whose slowest GPU lags holds every step back.
SELECT time, job, avg(util) AS mean_util_pct, min(util) AS min_gpu_util_pct
FROM
(
    SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, m.node AS node, m.gpu_index AS gpu,
           sum(m.util_gpu_pct_sum) / nullIf(sum(m.util_gpu_pct_count), 0) AS util
    FROM gpu_minute AS m
    INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
    WHERE $__timeFilter(m.minute) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
      AND m.minute + 30 >= iv.start_ts AND (iv.end_ts IS NULL OR m.minute + 30 < iv.end_ts)
    GROUP BY time, job, node, gpu
)
GROUP BY time, job
ORDER BY time
