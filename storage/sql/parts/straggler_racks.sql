-- The first two steps of the stragglers statistic over the gpu_minute rows of the CTE
-- `minutes`, which the including query defines (its columns as gpu_minute's, its window):
-- `per_gpu`, each busy GPU-minute (utilization >= 5 %) with its average SM clock and
-- utilization, and `racks`, per minute each rack with at least 4 busy GPUs, holding them as
-- an array beside their median SM clock and utilization. Partial rows of a GPU-minute are
-- merged by GROUP BY, not FINAL: FINAL reads the base table, sorted by GPU then minute, whose
-- minute filter prunes only by day partition (both days' granules for a 24 h window, 14.4 M
-- rows at 10,000 GPUs), where the projection gpu_minute_by_time reads the minutes asked; each
-- minute's rack is one group, unrolled again per GPU by the includer (ARRAY JOIN, no sort of
-- every GPU-minute). Shared by part straggler_partials (the writer's refresh) and the
-- stragglers query, which differ only in how many deviations they count. Included after WITH.
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
)
