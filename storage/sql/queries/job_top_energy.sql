-- The jobs that used the most energy in the window: kWh from each GPU's energy counter over
-- the minutes the job held it (a minute belongs to the job running at its midpoint), with
-- GPU-hours sampled, mean GPU power and the job's identity. Read from both rollups: a
-- GPU-hour whose minutes all belong to one interval (no start or end between its first and
-- last minute midpoints, and inside the window) comes from gpu_hour as one row; only the
-- hours an interval starts or ends in, and the window's edge hours, are read minute by minute
-- from gpu_minute. Each row finds its interval with one ASOF match on a numeric GPU key (the
-- GPU's latest interval starting at or before the row's first midpoint) and counts if its
-- last midpoint is before the interval's end; sums, minima and maxima over the rows are the
-- same as over the minutes (tests/integration/test_jobs_queries.py compares the per-minute form).
-- Params: from_ms, to_ms (epoch ms), cluster ('' = all), limit.
-- Defaults: from_ms=now-24h, to_ms=now, cluster=, limit=20
WITH
iv AS
(
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toUnixTimestamp64Milli(start_ts) AS s_ms,
           ifNull(toUnixTimestamp64Milli(end_ts), {to_ms:Int64}) AS e_ms, cluster, node, job_id, user, account
    FROM gpu_job_intervals
    WHERE start_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
      AND (end_ts IS NULL OR end_ts > fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
      AND ({cluster:String} = '' OR cluster = {cluster:String})
),
-- the window's minutes: [first_minute, last_minute]; whole hours inside it: [first_hour, last_hour)
bounds AS
(
    SELECT toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS first_minute,
           toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS last_minute
),
-- GPU-hours whose minutes do not all belong to one interval (a start or end falls between the
-- hour's first and last minute midpoints): those are read minute by minute
split AS
(
    SELECT DISTINCT gkey, toDateTime(intDiv(b - 30001, 3600000) * 3600, 'UTC') AS hour
    FROM (SELECT gkey, arrayJoin([s_ms, e_ms]) AS b FROM iv)
    WHERE (b - 30001) % 3600000 < 3540000
),
rows AS
(
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toInt64(toUnixTimestamp(hour)) * 1000 + 30000 AS mid_ms, 3540000 AS span_ms,
           energy_mj_min, energy_mj_max, power_mw_sum, power_mw_count
    FROM gpu_hour
    WHERE hour >= (SELECT first_minute FROM bounds) AND hour + 3540 <= (SELECT last_minute FROM bounds)
      AND (gkey, hour) NOT IN (SELECT gkey, hour FROM split)
    UNION ALL
    SELECT cityHash64(cluster, node, gpu_index) AS gkey, toInt64(toUnixTimestamp(minute)) * 1000 + 30000 AS mid_ms, 0 AS span_ms,
           energy_mj_min, energy_mj_max, power_mw_sum, power_mw_count
    FROM gpu_minute
    WHERE minute BETWEEN (SELECT first_minute FROM bounds) AND (SELECT last_minute FROM bounds)
      AND ((gkey, toStartOfHour(minute)) IN (SELECT gkey, hour FROM split)
           OR toStartOfHour(minute) < (SELECT first_minute FROM bounds)
           OR toStartOfHour(minute) + 3540 > (SELECT last_minute FROM bounds))
),
per_interval AS
(
    SELECT k.gkey AS gkey, k.s_ms AS s_ms, max(r.energy_mj_max) - min(r.energy_mj_min) AS energy_mj,
           sum(r.power_mw_sum) AS power_mw_sum, sum(r.power_mw_count) AS power_mw_count
    FROM rows AS r
    ASOF INNER JOIN (SELECT gkey, s_ms, e_ms FROM iv) AS k ON r.gkey = k.gkey AND r.mid_ms >= k.s_ms
    WHERE r.mid_ms + r.span_ms < k.e_ms
    GROUP BY gkey, s_ms
)
SELECT i.cluster AS cluster, i.job_id AS job_id, any(i.user) AS user, any(i.account) AS account, uniqExact(i.node) AS nodes,
       count() AS gpus,
       round(sum(p.energy_mj) / 3.6e9, 4) AS energy_kwh,
       round(sum(p.power_mw_count) / 3600, 3) AS sampled_gpu_hours,
       round(sum(p.power_mw_sum) / nullIf(sum(p.power_mw_count), 0) / 1000, 1) AS mean_gpu_power_w
FROM per_interval AS p
INNER JOIN iv AS i ON p.gkey = i.gkey AND p.s_ms = i.s_ms
GROUP BY cluster, job_id
ORDER BY energy_kwh DESC, job_id
LIMIT {limit:UInt32}
