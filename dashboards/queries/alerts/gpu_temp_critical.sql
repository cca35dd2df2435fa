-- Degrees above the GPU's own slowdown threshold (from the inventory, which NVML reports per
-- device; 89 °C when unknown): at 0 or more the GPU is in hardware thermal slowdown.
SELECT cluster, node, toString(gpu_index) AS gpu, peak_c - ifNull(slowdown_c, {{gpu_slowdown_default_c}}) AS value
FROM
(
    SELECT cluster, node, gpu_index, max(gpu_temp_c_max) AS peak_c
    FROM gpu_minute
    WHERE $__timeFilter(minute)
    GROUP BY cluster, node, gpu_index
) AS s
LEFT JOIN
(
    SELECT cluster, node, gpu_index, argMax(temp_slowdown_c, ts) AS slowdown_c
    FROM gpu_inventory
    WHERE ts <= $__toTime
    GROUP BY cluster, node, gpu_index
) AS i USING (cluster, node, gpu_index)
WHERE value >= 0
SETTINGS join_use_nulls = 1
