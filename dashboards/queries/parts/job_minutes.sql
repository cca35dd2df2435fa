-- The selected jobs' GPU-minutes of gpu_minute with the rollup columns {{args}}: each minute
-- joined (ASOF, at its midpoint) to the job interval of its GPU that holds it.
FROM
(
    SELECT minute, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint, {{args}}
    FROM gpu_minute
    WHERE $__timeFilter(minute)
) AS m
ASOF INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
WHERE (iv.end_ts IS NULL OR m.midpoint < iv.end_ts) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
