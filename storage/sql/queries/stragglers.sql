-- Stragglers: busy GPUs whose SM clock stays below their rack's busy peers. Per minute, a GPU
-- is slow when its average SM clock is under (1 - deviation) x the median of the busy GPUs
-- (utilization >= 5 %) in its rack; it is listed when slow for at least min_minutes minutes.
-- One slow GPU holds back every GPU of a synchronous job. Rack peers stand in for job peers
-- (jobs are not in the schema); utilization is shown beside the clock but not used to flag,
-- since two jobs sharing a rack can differ in utilization legitimately. A whole rack slowed
-- by heat is not a straggler: see throttled_gpus. From the per-minute rollup read with FINAL
-- (its partial rows merged in key order as they stream, instead of a hash table of every
-- GPU-minute); each minute's rack is one group holding its busy GPUs as an array beside their
-- median, unrolled again per GPU (no sort of every GPU-minute, which the window-function
-- version paid); GPUs are grouped by uuid alone.
-- Params: from_ms, to_ms (epoch ms), deviation (e.g. 0.1), min_minutes.
-- Defaults: from_ms=now-1h, to_ms=now, deviation=0.1, min_minutes=5
WITH
per_gpu AS
(
    SELECT minute, cluster, rack, node, gpu_index, uuid,
        sm_clock_mhz_sum / nullIf(sm_clock_mhz_count, 0) AS clock_mhz,
        util_gpu_pct_sum / nullIf(util_gpu_pct_count, 0) AS util_pct
    FROM gpu_minute FINAL
    WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                     AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
      AND util_pct >= 5
),
racks AS
(
    SELECT minute, cluster, rack,
        groupArray((uuid, node, gpu_index, clock_mhz, util_pct)) AS gpus,
        median(clock_mhz) AS rack_clock_mhz, median(util_pct) AS rack_util_pct
    FROM per_gpu
    GROUP BY minute, cluster, rack
    HAVING count() >= 4
)
SELECT
    any(rack) AS rack, any(g.2) AS node, any(g.3) AS gpu_index, g.1 AS uuid,
    countIf(g.4 < (1 - {deviation:Float64}) * rack_clock_mhz) AS slow_minutes,
    count() AS busy_minutes,
    round(avg(g.4)) AS avg_sm_clock_mhz,
    round(avg(rack_clock_mhz)) AS rack_median_sm_clock_mhz,
    round(avg(g.5), 1) AS avg_util_pct,
    round(avg(rack_util_pct), 1) AS rack_median_util_pct
FROM racks ARRAY JOIN gpus AS g
GROUP BY uuid
HAVING slow_minutes >= {min_minutes:UInt32}
ORDER BY slow_minutes DESC, avg_sm_clock_mhz, node, gpu_index
