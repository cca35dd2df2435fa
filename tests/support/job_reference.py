"""Reference forms of job queries, kept to check that the faster forms give the same answers.

`TOP_ENERGY_BY_MINUTE` is `job_top_energy` as it was before it read gpu_hour (issue 16): every
gpu_minute row of the window joined (ASOF) to its GPU's interval. Both
tests/integration/test_jobs_queries.py and benchmarks/bench_jobs.py ("before") run it.
`TOP_ENERGY_PANEL_BY_MINUTE` is the Jobs board's "Top jobs by energy" panel as it was (Grafana
macros; ties now broken by job id, as the new form does).
"""

TOP_ENERGY_BY_MINUTE = """
WITH
iv AS
(
    SELECT cluster, node, gpu_index, job_id, user, account, start_ts,
           ifNull(end_ts, fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS end_ts
    FROM gpu_job_intervals
    WHERE start_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
      AND (end_ts IS NULL OR end_ts > fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
      AND ({cluster:String} = '' OR cluster = {cluster:String})
),
per_gpu AS
(
    SELECT iv.cluster AS cluster, iv.job_id AS job_id, any(iv.user) AS user, any(iv.account) AS account,
           m.node AS node, m.gpu_index AS gpu_index,
           max(m.energy_mj_max) - min(m.energy_mj_min) AS energy_mj,
           sum(m.power_mw_sum) AS power_mw_sum, sum(m.power_mw_count) AS power_mw_count
    FROM
    (
        SELECT cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint,
               energy_mj_min, energy_mj_max, power_mw_sum, power_mw_count
        FROM gpu_minute
        WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                         AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
    ) AS m
    ASOF INNER JOIN iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
    WHERE m.midpoint < iv.end_ts
    GROUP BY cluster, job_id, node, gpu_index
)
SELECT cluster, job_id, any(user) AS user, any(account) AS account, uniqExact(node) AS nodes, count() AS gpus,
       round(sum(energy_mj) / 3.6e9, 4) AS energy_kwh,
       round(sum(power_mw_count) / 3600, 3) AS sampled_gpu_hours,
       round(sum(power_mw_sum) / nullIf(sum(power_mw_count), 0) / 1000, 1) AS mean_gpu_power_w
FROM per_gpu
GROUP BY cluster, job_id
ORDER BY energy_kwh DESC, job_id
LIMIT {limit:UInt32}
"""

TOP_ENERGY_PANEL_BY_MINUTE = """
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
ORDER BY energy_kwh DESC, job_id
LIMIT 20
"""
