-- Stragglers: GPUs whose mean SM clock is below 90 % of the median of their node's GPUs while
-- busy, with no thermal, power-brake or hardware-slowdown time to explain it. In a
-- synchronous job the whole job waits for its slowest GPU.
SELECT cluster, rack, node, toString(gpu_index) AS gpu, round(clock) AS sm_clock_mhz, round(node_median) AS node_median_mhz,
       round(100 * clock / node_median, 1) AS pct_of_node, round(util, 1) AS util_pct
FROM (
    SELECT cluster, rack, node, gpu_index, clock, util, explained,
           median(clock) OVER (PARTITION BY cluster, node) AS node_median
    FROM (
        SELECT cluster, rack, node, gpu_index, sum(sm_clock_mhz_sum) / sum(sm_clock_mhz_count) AS clock,
               sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS util,
               sum(thermal_samples) + sum(power_brake_samples) + sum(hw_slowdown_samples) AS explained
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND sm_clock_mhz_count > 0
        GROUP BY cluster, rack, node, gpu_index
    )
)
WHERE clock < 0.9 * node_median AND explained = 0 AND util > 20
ORDER BY pct_of_node
LIMIT 50
