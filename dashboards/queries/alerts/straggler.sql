-- Mean SM clock of each busy GPU as a percentage of its node's median, for GPUs with no
-- thermal, power-brake or hardware-slowdown time in the window (those have their own alerts).
SELECT cluster, node, toString(gpu_index) AS gpu, round(100 * clock / node_median, 1) AS value
FROM
(
    SELECT cluster, node, gpu_index, clock, util, explained, median(clock) OVER (PARTITION BY cluster, node) AS node_median
    FROM
    (
        SELECT cluster, node, gpu_index, sum(sm_clock_mhz_sum) / sum(sm_clock_mhz_count) AS clock,
               sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS util,
               sum(thermal_samples) + sum(power_brake_samples) + sum(hw_slowdown_samples) AS explained
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND sm_clock_mhz_count > 0
        GROUP BY cluster, node, gpu_index
    )
)
WHERE explained = 0 AND util > 20 AND value < {{straggler_clock_pct}}
