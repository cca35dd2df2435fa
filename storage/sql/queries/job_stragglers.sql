-- Stragglers within one job: its GPUs compared with each other, not with rack neighbours. Per
-- minute of the job, a GPU is slow when its mean SM clock is under (1 - deviation) x the
-- median of the job's GPUs that minute; GPUs slow for at least min_minutes are listed, with
-- their utilization beside the job's median. One slow GPU holds back a synchronous job.
-- Params: job_id, cluster ('' = any), deviation (e.g. 0.1), min_minutes.
-- Defaults: job_id=, cluster=, deviation=0.1, min_minutes=2
WITH
iv AS
(
    SELECT cluster, node, gpu_index, start_ts, ifNull(end_ts, now64(3, 'UTC')) AS end_ts
    FROM gpu_job_intervals
    WHERE job_id = {job_id:String} AND ({cluster:String} = '' OR cluster = {cluster:String})
),
per_minute AS
(
    SELECT m.minute AS minute, m.node AS node, m.gpu_index AS gpu_index, any(m.uuid) AS uuid,
           sum(m.sm_clock_mhz_sum) / nullIf(sum(m.sm_clock_mhz_count), 0) AS clock_mhz,
           sum(m.util_gpu_pct_sum) / nullIf(sum(m.util_gpu_pct_count), 0) AS util_pct
    FROM gpu_minute AS m
    INNER JOIN iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index
    WHERE m.minute + 30 >= iv.start_ts AND m.minute + 30 < iv.end_ts
      AND m.minute >= (SELECT toStartOfMinute(min(start_ts)) FROM iv) AND m.minute <= (SELECT max(end_ts) FROM iv)
    GROUP BY minute, node, gpu_index
),
with_peers AS
(
    SELECT *, median(clock_mhz) OVER w AS job_clock_mhz, median(util_pct) OVER w AS job_util_pct, count() OVER w AS peers
    FROM per_minute
    WINDOW w AS (PARTITION BY minute)
)
SELECT node, gpu_index, any(uuid) AS uuid,
       countIf(clock_mhz < (1 - {deviation:Float64}) * job_clock_mhz) AS slow_minutes, count() AS minutes,
       round(avg(clock_mhz)) AS avg_sm_clock_mhz, round(avg(job_clock_mhz)) AS job_median_sm_clock_mhz,
       round(avg(util_pct), 1) AS avg_util_pct, round(avg(job_util_pct), 1) AS job_median_util_pct
FROM with_peers
WHERE peers >= 2
GROUP BY node, gpu_index
HAVING slow_minutes >= {min_minutes:UInt32}
ORDER BY slow_minutes DESC, avg_sm_clock_mhz, node, gpu_index
