-- Hottest HBM temperature of each GPU in the window; fires at 85 °C (HBM max operating: 95 °C).
SELECT cluster, node, toString(gpu_index) AS gpu, max(mem_temp_c_max) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{hbm_temp_warn_c}}
