-- Where the selected jobs run on the floor: per hall and rack, the nodes and GPUs they hold,
-- their mean power and peak temperature over the range.
SELECT m.hall AS hall, m.rack AS rack, iv.job_id AS job, uniqExact(m.node) AS nodes, uniqExact(m.node, m.gpu_index) AS gpus,
       round(sum(m.power_mw_sum) / nullIf(sum(m.power_mw_count), 0) / 1000, 1) AS mean_gpu_power_w,
       max(m.gpu_temp_c_max) AS peak_gpu_temp_c
FROM
(
    SELECT hall, rack, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, power_mw_sum, power_mw_count, gpu_temp_c_max
    FROM gpu_minute
    WHERE $__timeFilter(minute)
) AS m
ASOF INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
WHERE (iv.end_ts IS NULL OR m.midpoint < iv.end_ts) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
GROUP BY hall, rack, job
ORDER BY hall, rack
