-- One job's figures: GPUs and nodes, wall time, GPU-hours (allocated), energy in kWh from
-- each GPU's energy counter over the job, mean and peak GPU power, mean utilization, mean SM
-- and tensor activity (GPM; null where no GPU of the job reported it),
-- throttled GPU-minutes (thermal, power brake or hardware slowdown), XIDs and GPUs lost on
-- its GPUs during the job (interruptions), and goodput: the share of its observed minutes
-- (minutes with samples from any of its GPUs; job_minutes counts all, observed or not) in
-- which every one of its GPUs was active (utilization >= active_pct; a GPU that did not
-- report, e.g. one lost, is not active). From the per-minute rollup: a minute belongs to the job whose
-- interval contains the minute's midpoint, so two jobs back to back on one GPU never share
-- a minute. A running job is measured up to now. Each part is one single-row subquery,
-- computed once (ClickHouse inlines a CTE wherever it is named, so none is named twice).
-- Params: job_id, cluster ('' = any), active_pct.
-- Defaults: job_id=, cluster=, active_pct=10
WITH
iv AS
(
    SELECT cluster, node, gpu_index, start_ts, ifNull(end_ts, now64(3, 'UTC')) AS end_ts, end_ts IS NULL AS running, user
    FROM gpu_job_intervals
    WHERE job_id = {job_id:String} AND ({cluster:String} = '' OR cluster = {cluster:String})
),
per_minute AS
(
    SELECT m.node AS node, m.gpu_index AS gpu_index, m.minute AS minute,
           sum(m.power_mw_sum) AS power_mw_sum, sum(m.power_mw_count) AS power_mw_count, max(m.power_mw_max) AS power_mw_max,
           sum(m.util_gpu_pct_sum) / nullIf(sum(m.util_gpu_pct_count), 0) AS util_pct,
           sum(m.sm_active_pct_sum) / nullIf(sum(m.sm_active_pct_count), 0) AS sm_pct,
           sum(m.tensor_active_pct_sum) / nullIf(sum(m.tensor_active_pct_count), 0) AS tensor_pct,
           sum(m.thermal_samples + m.power_brake_samples + m.hw_slowdown_samples) AS throttled_samples,
           min(m.energy_mj_min) AS energy_mj_min, max(m.energy_mj_max) AS energy_mj_max
    FROM gpu_minute AS m
    INNER JOIN iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
    WHERE m.minute + 30 >= iv.start_ts AND m.minute + 30 < iv.end_ts
      AND m.minute >= (SELECT toStartOfMinute(min(start_ts)) FROM iv) AND m.minute <= (SELECT max(end_ts) FROM iv)
    GROUP BY node, gpu_index, minute
)
SELECT
    {job_id:String} AS job_id, j.user AS user, j.nodes AS nodes, j.gpus AS gpus, j.started AS started,
    if(j.running, NULL, j.last_end) AS ended,
    round(j.wall_ms / 60000, 1) AS wall_minutes,
    round(j.gpu_ms / 3.6e6, 3) AS gpu_hours,
    round(g.energy_mj / 3.6e9, 4) AS energy_kwh,
    round(g.power_mw_sum / nullIf(g.power_mw_count, 0) / 1000, 1) AS mean_gpu_power_w,
    round(g.power_mw_max / 1000, 1) AS peak_gpu_power_w,
    round(g.util_pct, 1) AS mean_util_pct,
    round(g.sm_pct, 1) AS mean_sm_active_pct,
    round(g.tensor_pct, 1) AS mean_tensor_active_pct,
    g.throttled_gpu_minutes AS throttled_gpu_minutes,
    e.xids AS xids, e.gpus_lost AS gpus_lost, e.xid_codes AS xid_codes,
    j.job_minutes AS job_minutes,
    a.observed_minutes AS observed_minutes,
    round(a.good_minutes / nullIf(a.observed_minutes, 0), 3) AS goodput
FROM
(
    SELECT any(user) AS user, uniqExact(node) AS nodes, count() AS gpus, min(start_ts) AS started, max(end_ts) AS last_end,
           max(running) AS running, dateDiff('millisecond', min(start_ts), max(end_ts)) AS wall_ms,
           sum(dateDiff('millisecond', start_ts, end_ts)) AS gpu_ms,
           -- the job's minutes: whole minutes m with start <= m + 30 s < end, counted arithmetically
           intDiv(toUnixTimestamp64Milli(max(end_ts)) - 30001, 60000) - intDiv(toUnixTimestamp64Milli(min(start_ts)) - 30001, 60000)
               AS job_minutes
    FROM iv
) AS j
CROSS JOIN
(
    SELECT sum(energy_mj) AS energy_mj, sum(power_mw_sum) AS power_mw_sum, sum(power_mw_count) AS power_mw_count,
           max(power_mw_max) AS power_mw_max, avg(util_pct) AS util_pct, avg(sm_pct) AS sm_pct, avg(tensor_pct) AS tensor_pct,
           sum(throttled_minutes) AS throttled_gpu_minutes
    FROM
    (
        SELECT max(energy_mj_max) - min(energy_mj_min) AS energy_mj, sum(power_mw_sum) AS power_mw_sum,
               sum(power_mw_count) AS power_mw_count, max(power_mw_max) AS power_mw_max, avg(util_pct) AS util_pct,
               avg(sm_pct) AS sm_pct, avg(tensor_pct) AS tensor_pct,
               countIf(throttled_samples > 0) AS throttled_minutes
        FROM per_minute
        GROUP BY node, gpu_index
    )
) AS g
CROSS JOIN
(
    SELECT countIf(active = (SELECT count() FROM iv)) AS good_minutes, count() AS observed_minutes
    FROM (SELECT minute, countIf(util_pct >= {active_pct:Float64}) AS active FROM per_minute GROUP BY minute)
) AS a
CROSS JOIN
(
    SELECT countIf(e.kind = 'xid') AS xids, countIf(e.kind = 'gpu_lost') AS gpus_lost,
           arraySort(groupUniqArrayIf(e.xid, e.kind = 'xid')) AS xid_codes
    FROM gpu_events AS e
    INNER JOIN iv ON e.cluster = iv.cluster AND e.node = iv.node AND e.gpu_index = iv.gpu_index
    WHERE e.ts >= iv.start_ts AND e.ts < iv.end_ts AND e.ts >= (SELECT min(start_ts) FROM iv)
) AS e
