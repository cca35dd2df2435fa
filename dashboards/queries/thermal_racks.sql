-- Racks by peak GPU temperature: HBM peak, GPUs that throttled, mean power per GPU. A rack
-- whose GPUs all run hot together points at its coolant distribution unit, not at the GPUs.
SELECT cluster, hall, rack, max(gpu_temp_c_max) AS peak_gpu_c, max(mem_temp_c_max) AS peak_hbm_c,
       round(sum(gpu_temp_c_sum) / sum(gpu_temp_c_count), 1) AS mean_gpu_c,
       uniqExactIf(uuid, thermal_samples > 0) AS gpus_throttled,
       round(sum(power_mw_sum) / sum(power_mw_count) / 1000) AS mean_power_w
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY cluster, hall, rack
ORDER BY peak_gpu_c DESC
LIMIT 50
