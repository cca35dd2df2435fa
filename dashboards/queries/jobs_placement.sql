-- Where the selected jobs run on the floor: per hall and rack, the nodes and GPUs they hold,
-- their mean power and peak temperature over the range.
SELECT m.hall AS hall, m.rack AS rack, iv.job_id AS job, uniqExact(m.node) AS nodes, uniqExact(m.node, m.gpu_index) AS gpus,
       round(sum(m.power_mw_sum) / nullIf(sum(m.power_mw_count), 0) / 1000, 1) AS mean_gpu_power_w,
       max(m.gpu_temp_c_max) AS peak_gpu_temp_c
FROM gpu_minute AS m
INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
WHERE $__timeFilter(m.minute) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
  AND m.minute + 30 >= iv.start_ts AND (iv.end_ts IS NULL OR m.minute + 30 < iv.end_ts)
GROUP BY hall, rack, job
ORDER BY hall, rack
