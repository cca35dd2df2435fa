-- Stragglers over the whole window, as the dashboards' GPU utilization board finds them:
-- busy GPUs (mean utilization > 20 %) whose mean SM clock is below 90 % of the median of
-- their node's GPUs, with no thermal, power-brake or hardware-slowdown time to explain it
-- (a GPU held down by heat or the brake is listed under throttled GPUs instead). In a
-- synchronous job the whole job waits for its slowest GPU. Whole hours inside the window
-- are read from gpu_hour, the partial hours at its ends from gpu_minute (see
-- report_rack_floor); `stragglers` is the per-minute, rack-peer variant for short windows.
-- Params: from_ms, to_ms (epoch ms), limit.
-- Defaults: from_ms=now-24h, to_ms=now, limit=50
SELECT
    rack, node, gpu_index, uuid,
    round(clock) AS avg_sm_clock_mhz,
    round(node_median) AS node_median_sm_clock_mhz,
    round(100 * clock / node_median, 1) AS pct_of_node,
    round(util, 1) AS avg_util_pct
FROM
(
    SELECT rack, node, gpu_index, uuid, clock, util, explained, median(clock) OVER (PARTITION BY cluster, node) AS node_median
    FROM
    (
        SELECT cluster, rack, node, gpu_index, uuid,
               sum(sm_clock_mhz_sum) / sum(sm_clock_mhz_count) AS clock,
               sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS util,
               sum(thermal_samples) + sum(power_brake_samples) + sum(hw_slowdown_samples) AS explained
        FROM
        (
            -- @include gpu_rollup_window(cluster, rack, node, gpu_index, uuid, sm_clock_mhz_sum, sm_clock_mhz_count, util_gpu_pct_sum, util_gpu_pct_count, thermal_samples, power_brake_samples, hw_slowdown_samples)
        )
        GROUP BY cluster, rack, node, gpu_index, uuid
        HAVING sum(sm_clock_mhz_count) > 0
    )
)
WHERE clock < 0.9 * node_median AND explained = 0 AND util > 20
ORDER BY pct_of_node, node, gpu_index
LIMIT {limit:UInt32}
