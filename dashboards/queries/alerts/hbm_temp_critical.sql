-- Hottest HBM temperature of each GPU in the window; fires at HBM's max operating temperature.
SELECT cluster, node, toString(gpu_index) AS gpu, max(mem_temp_c_max) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{hbm_temp_crit_c}}
