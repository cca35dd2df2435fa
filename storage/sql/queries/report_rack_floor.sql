-- Every rack with samples in the window, placed on the floor (hall, row, rack), with its
-- GPUs' peak core and HBM temperature, mean core temperature and the GPUs that spent any
-- time in thermal slowdown. A rack whose GPUs all ran hot together points at its coolant
-- distribution unit, not at the GPUs (see thermal_racks). Whole hours inside the window are
-- read from gpu_hour and only the partial hours at its ends from gpu_minute, so a 24 h
-- window reads ~24x fewer rows; the figures are the same as from gpu_minute alone.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT
    hall, row, rack,
    max(peak_c) AS peak_gpu_temp_c,
    max(peak_hbm_c) AS peak_hbm_temp_c,
    round(sum(temp_sum) / nullIf(sum(temp_count), 0), 1) AS mean_gpu_temp_c,
    count() AS gpus,
    countIf(thermal_s > 0) AS gpus_throttled
FROM
(
    SELECT hall, row, rack, node, gpu_index, max(gpu_temp_c_max) AS peak_c, max(mem_temp_c_max) AS peak_hbm_c,
           sum(gpu_temp_c_sum) AS temp_sum, sum(gpu_temp_c_count) AS temp_count, sum(thermal_samples) AS thermal_s
    FROM
    (
        -- @include gpu_rollup_window(hall, row, rack, node, gpu_index, gpu_temp_c_max, mem_temp_c_max, gpu_temp_c_sum, gpu_temp_c_count, thermal_samples)
    )
    GROUP BY hall, row, rack, node, gpu_index
)
GROUP BY hall, row, rack
ORDER BY hall, row, rack
