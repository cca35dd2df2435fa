-- Total GPU power of the selected jobs over time, in kilowatts (per-minute means of their GPUs).
SELECT $__timeInterval(m.minute) AS time, iv.job_id AS job, sum(m.power_mw_sum / nullIf(m.power_mw_count, 0)) / 1e6 / uniqExact(m.minute) AS power_kw
-- @include job_minutes(power_mw_sum, power_mw_count)
GROUP BY time, job
ORDER BY time
