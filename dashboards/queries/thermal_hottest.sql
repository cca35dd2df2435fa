-- The hottest GPUs in the range by peak core temperature, with HBM peak and seconds of
-- thermal slowdown (per-minute rollup).
SELECT cluster, hall, rack, node, toString(gpu_index) AS gpu, max(gpu_temp_c_max) AS peak_gpu_c,
       max(mem_temp_c_max) AS peak_hbm_c, sum(thermal_samples) AS thermal_s
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY cluster, hall, rack, node, gpu
ORDER BY peak_gpu_c DESC, peak_hbm_c DESC
LIMIT 20
