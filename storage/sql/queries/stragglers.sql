-- Stragglers: busy GPUs whose SM clock stays below their rack's busy peers. Per minute, a GPU
-- is slow when its average SM clock is under (1 - deviation) x the median of the busy GPUs
-- (utilization >= 5 %) in its rack; it is listed when slow for at least min_minutes minutes.
-- One slow GPU holds back every GPU of a synchronous job. Rack peers stand in for job peers
-- (jobs are not in the schema); utilization is shown beside the clock but not used to flag,
-- since two jobs sharing a rack can differ in utilization legitimately. A whole rack slowed
-- by heat is not a straggler: see throttled_gpus. From the per-minute rollup; rack medians
-- are window functions over each minute's rack (no join), GPUs are grouped by uuid alone.
-- Params: from_ms, to_ms (epoch ms), deviation (e.g. 0.1), min_minutes.
-- Defaults: from_ms=now-1h, to_ms=now, deviation=0.1, min_minutes=5
WITH
per_gpu AS
(
    SELECT
        minute, any(cluster) AS cluster, any(rack) AS rack, any(node) AS node, any(gpu_index) AS gpu_index, uuid,
        sum(sm_clock_mhz_sum) / nullIf(sum(sm_clock_mhz_count), 0) AS clock_mhz,
        sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0) AS util_pct
    FROM gpu_minute
    WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                     AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
    GROUP BY minute, uuid
    HAVING util_pct >= 5
),
with_peers AS
(
    SELECT *,
        median(clock_mhz) OVER w AS rack_clock_mhz,
        median(util_pct) OVER w AS rack_util_pct,
        count() OVER w AS busy
    FROM per_gpu
    WINDOW w AS (PARTITION BY minute, cluster, rack)
)
SELECT
    any(rack) AS rack, any(node) AS node, any(gpu_index) AS gpu_index, uuid,
    countIf(clock_mhz < (1 - {deviation:Float64}) * rack_clock_mhz) AS slow_minutes,
    count() AS busy_minutes,
    round(avg(clock_mhz)) AS avg_sm_clock_mhz,
    round(avg(rack_clock_mhz)) AS rack_median_sm_clock_mhz,
    round(avg(util_pct), 1) AS avg_util_pct,
    round(avg(rack_util_pct), 1) AS rack_median_util_pct
FROM with_peers
WHERE busy >= 4
GROUP BY uuid
HAVING slow_minutes >= {min_minutes:UInt32}
ORDER BY slow_minutes DESC, avg_sm_clock_mhz, node, gpu_index
