-- Mean utilization of the selected jobs' GPUs over time, and the least busy of them: a job
-- whose slowest GPU lags holds every step back.
SELECT time, job, avg(util) AS mean_util_pct, min(util) AS min_gpu_util_pct
FROM
(
    SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, m.node AS node, m.gpu_index AS gpu,
           sum(m.util_gpu_pct_sum) / nullIf(sum(m.util_gpu_pct_count), 0) AS util
    -- @include job_minutes(util_gpu_pct_sum, util_gpu_pct_count)
    GROUP BY time, job, node, gpu
)
GROUP BY time, job
ORDER BY time
