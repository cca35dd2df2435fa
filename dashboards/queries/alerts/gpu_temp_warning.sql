-- Hottest core temperature of each GPU in the window, per-minute rollup; fires at the
-- warning threshold (85 °C by default, below the 87 °C max-operating temperature).
SELECT cluster, node, toString(gpu_index) AS gpu, max(gpu_temp_c_max) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{gpu_temp_warn_c}}
