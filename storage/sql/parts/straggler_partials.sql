-- The stragglers statistic's per-GPU partial sums over the gpu_minute rows of the CTE
-- `minutes`, which the including query defines (its columns as gpu_minute's, its window):
-- the rack medians of part straggler_racks, then per GPU the busy minutes, the slow minutes
-- for each deviation d of the array `deviations` (clock < (1 - d) x rack median; up to six,
-- as countIf: a sumForEach over per-row arrays cost twice the time), and the sums and counts
-- the averages need. Three CTEs: per_gpu, racks, partials. The stragglers query counts one
-- deviation and has its own copy of `partials` (five countIf fewer: ~10 % of its time).
-- Included after WITH.
-- @include straggler_racks
,
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
