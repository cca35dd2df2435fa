-- Jobs by energy used in the range (kWh from the GPUs' energy counters; a minute belongs to the
-- job running at its midpoint). Whole GPU-hours inside one job and inside the range come from
-- gpu_hour as one row each, only the hours a job starts or ends in and the range's edge hours
-- from gpu_minute (as storage's job_top_energy; same answer as reading every minute).
WITH
iv AS
(
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toUnixTimestamp64Milli(start_ts) AS s_ms,
           ifNull(toUnixTimestamp64Milli(end_ts), toUnixTimestamp64Milli($__toTime_ms) + 3600000) AS e_ms,
           job_id, user, node, gpu_index
    FROM gpu_job_intervals
    WHERE start_ts <= $__toTime_ms + 60 AND (end_ts IS NULL OR end_ts >= $__fromTime_ms)
      AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
),
split AS
(
    SELECT DISTINCT gkey, toDateTime(intDiv(b - 30001, 3600000) * 3600, 'UTC') AS hour
    FROM (SELECT gkey, arrayJoin([s_ms, e_ms]) AS b FROM iv)
    WHERE (b - 30001) % 3600000 < 3540000
),
rows AS
(
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toInt64(toUnixTimestamp(hour)) * 1000 + 30000 AS mid_ms, 3540000 AS span_ms,
           energy_mj_min, energy_mj_max
    FROM gpu_hour
    WHERE hour >= $__fromTime AND hour + 3540 <= $__toTime AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
      AND (gkey, hour) NOT IN (SELECT gkey, hour FROM split)
    UNION ALL
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toInt64(toUnixTimestamp(minute)) * 1000 + 30000 AS mid_ms, 0 AS span_ms,
           energy_mj_min, energy_mj_max
    FROM gpu_minute
    WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
      AND ((gkey, toStartOfHour(minute)) IN (SELECT gkey, hour FROM split)
           OR toStartOfHour(minute) < $__fromTime OR toStartOfHour(minute) + 3540 > $__toTime)
),
per_interval AS
(
    SELECT k.gkey AS gkey, k.s_ms AS s_ms, max(r.energy_mj_max) - min(r.energy_mj_min) AS per_gpu_mj
    FROM rows AS r
    ASOF INNER JOIN (SELECT gkey, s_ms, e_ms FROM iv) AS k ON r.gkey = k.gkey AND r.mid_ms >= k.s_ms
    WHERE r.mid_ms + r.span_ms < k.e_ms
    GROUP BY gkey, s_ms
)
SELECT i.job_id AS job_id, any(i.user) AS user, uniqExact(i.node, i.gpu_index) AS gpus, sum(p.per_gpu_mj) / 3.6e9 AS energy_kwh
FROM per_interval AS p
INNER JOIN iv AS i ON p.gkey = i.gkey AND p.s_ms = i.s_ms
GROUP BY job_id
ORDER BY energy_kwh DESC, job_id
LIMIT 20
