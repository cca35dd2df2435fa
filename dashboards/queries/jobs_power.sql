-- Total GPU power of the selected jobs over time, in kilowatts (per-minute means of their GPUs).
SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, sum(m.power_mw_sum / nullIf(m.power_mw_count, 0)) / 1e6 / uniqExact(m.minute) AS power_kw
FROM
(
    SELECT minute, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, power_mw_sum, power_mw_count
    FROM gpu_minute
    WHERE $__timeFilter(minute)
) AS m
ASOF INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
WHERE (iv.end_ts IS NULL OR m.midpoint < iv.end_ts) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
GROUP BY time, job
ORDER BY time
