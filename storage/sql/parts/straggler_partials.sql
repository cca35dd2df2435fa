-- The stragglers statistic's per-GPU partial sums over the gpu_minute rows of the CTE
-- `minutes`, which the including query defines (its columns as gpu_minute's, its window):
-- per minute, each rack's busy GPUs (utilization >= 5 %, at least 4 of them) beside their
-- median SM clock and utilization, then per GPU the busy minutes, the slow minutes for each
-- deviation d of the array `deviations` (clock < (1 - d) x rack median; up to six, as
-- countIf: a sumForEach over per-row arrays cost twice the time), and the sums and counts
-- the averages need. Three CTEs: per_gpu, racks, partials. Partial rows of a GPU-minute
-- are merged by GROUP BY, not FINAL: FINAL reads the base table, sorted by GPU then minute,
-- whose minute filter prunes only by day partition (both days' granules for a 24 h window,
-- 14.4 M rows at 10,000 GPUs), where the projection gpu_minute_by_time reads the minutes asked;
-- each minute's rack is one group holding its busy GPUs as an array beside their median,
-- unrolled again per GPU (no sort of every GPU-minute). Included after WITH.
per_gpu AS
(
    SELECT minute, cluster, rack, node, gpu_index, uuid,
        sum(sm_clock_mhz_sum) / nullIf(sum(sm_clock_mhz_count), 0) AS clock_mhz,
        sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0) AS util_pct
    FROM minutes
    GROUP BY minute, cluster, rack, node, gpu_index, uuid
    HAVING util_pct >= 5
),
racks AS
(
    SELECT minute, cluster, rack,
        groupArray((uuid, node, gpu_index, clock_mhz, util_pct)) AS gpus,
        median(clock_mhz) AS rack_clock_mhz, median(util_pct) AS rack_util_pct
    FROM per_gpu
    GROUP BY minute, cluster, rack
    HAVING count() >= 4
),
partials AS
(
    SELECT cluster, rack, any(g.2) AS node, any(g.3) AS gpu_index, g.1 AS uuid,
        count() AS busy_minutes,
        [countIf(g.4 < (1 - deviations[1]) * rack_clock_mhz), countIf(g.4 < (1 - deviations[2]) * rack_clock_mhz),
         countIf(g.4 < (1 - deviations[3]) * rack_clock_mhz), countIf(g.4 < (1 - deviations[4]) * rack_clock_mhz),
         countIf(g.4 < (1 - deviations[5]) * rack_clock_mhz), countIf(g.4 < (1 - deviations[6]) * rack_clock_mhz)] AS slow_minutes,
        count(g.4) AS clock_minutes, ifNull(sum(g.4), 0) AS clock_mhz_sum,
        count(rack_clock_mhz) AS rack_clock_minutes, ifNull(sum(rack_clock_mhz), 0) AS rack_clock_mhz_sum,
        ifNull(sum(g.5), 0) AS util_pct_sum, ifNull(sum(rack_util_pct), 0) AS rack_util_pct_sum
    FROM racks ARRAY JOIN gpus AS g
    GROUP BY cluster, rack, uuid
)
