-- Every rack with samples in the window, placed on the floor (hall, row, rack), with its
-- GPUs' peak core and HBM temperature, mean core temperature and the GPUs that spent any
-- time in thermal slowdown. A rack whose GPUs all ran hot together points at its coolant
-- distribution unit, not at the GPUs (see thermal_racks). Whole hours inside the window are
-- read from gpu_hour and only the partial hours at its ends from gpu_minute, so a 24 h
-- window reads ~24x fewer rows; the figures are the same as from gpu_minute alone.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
WITH
    toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS m0,
    toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS t1,
    if(toStartOfHour(m0) = m0, m0, toStartOfHour(m0) + INTERVAL 1 HOUR) AS h0,
    toStartOfHour(t1 - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS h1
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
        SELECT hall, row, rack, node, gpu_index, gpu_temp_c_max, mem_temp_c_max, gpu_temp_c_sum, gpu_temp_c_count, thermal_samples
        FROM gpu_hour WHERE hour >= h0 AND hour < h1
        UNION ALL
        SELECT hall, row, rack, node, gpu_index, gpu_temp_c_max, mem_temp_c_max, gpu_temp_c_sum, gpu_temp_c_count, thermal_samples
        FROM gpu_minute WHERE minute BETWEEN m0 AND t1 AND NOT (minute >= h0 AND minute < h1)
    )
    GROUP BY hall, row, rack, node, gpu_index
)
GROUP BY hall, row, rack
ORDER BY hall, row, rack
