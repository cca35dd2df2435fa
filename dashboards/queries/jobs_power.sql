-- Total GPU power of the selected jobs over time, in kilowatts (per-minute means of their GPUs).
SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, sum(m.power_mw_sum / nullIf(m.power_mw_count, 0)) / 1e6 / uniqExact(m.minute) AS power_kw
FROM gpu_minute AS m
INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
WHERE $__timeFilter(m.minute) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
  AND m.minute + 30 >= iv.start_ts AND (iv.end_ts IS NULL OR m.minute + 30 < iv.end_ts)
GROUP BY time, job
ORDER BY time
