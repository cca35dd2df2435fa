-- Jobs by energy used in the range (kWh from the GPUs' energy counters, per-minute rollup; a
-- minute belongs to the job running at its midpoint, found with one ASOF match per row).
SELECT job_id, any(user) AS user, uniqExact(node, gpu_index) AS gpus, sum(per_gpu_mj) / 3.6e9 AS energy_kwh
FROM
(
    SELECT iv.job_id AS job_id, any(iv.user) AS user, m.node AS node, m.gpu_index AS gpu_index,
           max(m.energy_mj_max) - min(m.energy_mj_min) AS per_gpu_mj
    FROM
    (
        SELECT cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, energy_mj_min, energy_mj_max
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
    ) AS m
    ASOF INNER JOIN gpu_job_intervals AS iv
        ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
    WHERE iv.end_ts IS NULL OR m.midpoint < iv.end_ts
    GROUP BY job_id, node, gpu_index
)
GROUP BY job_id
ORDER BY energy_kwh DESC
LIMIT 20
