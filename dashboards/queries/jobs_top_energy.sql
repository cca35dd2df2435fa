-- Jobs by energy used in the range (kWh from the GPUs' energy counters, per-minute rollup; a
-- minute belongs to the job running at its midpoint).
SELECT iv.job_id AS job_id, any(iv.user) AS user, uniqExact(m.node, m.gpu_index) AS gpus,
       sum(per_gpu_mj) / 3.6e9 AS energy_kwh
FROM
(
    SELECT m.cluster AS cluster, m.node AS node, m.gpu_index AS gpu_index, iv.job_id AS job_id,
           max(m.energy_mj_max) - min(m.energy_mj_min) AS per_gpu_mj
    FROM gpu_minute AS m
    INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
    WHERE $__timeFilter(m.minute) AND $__conditionalAll(m.cluster IN (${cluster:singlequote}), $cluster)
      AND m.minute + 30 >= iv.start_ts AND (iv.end_ts IS NULL OR m.minute + 30 < iv.end_ts)
    GROUP BY cluster, node, gpu_index, job_id
) AS m
INNER JOIN (SELECT DISTINCT job_id, user FROM gpu_job_intervals) AS iv ON iv.job_id = m.job_id
GROUP BY job_id
ORDER BY energy_kwh DESC
LIMIT 20
