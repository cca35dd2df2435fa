-- GPU core and HBM temperature across the fleet per step, from the per-minute rollup:
-- coldest, median, 99th percentile and hottest (°C). The percentiles are taken over the
-- samples every minute row keeps (`*_values`), so they are percentiles of every sample in
-- the step, not of minute means.
-- Params: from_ms, to_ms (epoch ms), step_s (seconds per point, a multiple of 60).
-- Defaults: from_ms=now-24h, to_ms=now, step_s=60
SELECT
    toStartOfInterval(minute, toIntervalSecond({step_s:UInt32})) AS t,
    min(gpu_temp_c_min) AS gpu_min_c,
    quantilesTimingArray(0.5, 0.99)(gpu_temp_c_values) AS gpu_q,
    gpu_q[1] AS gpu_p50_c,
    gpu_q[2] AS gpu_p99_c,
    max(gpu_temp_c_max) AS gpu_max_c,
    min(mem_temp_c_min) AS hbm_min_c,
    quantilesTimingArray(0.5, 0.99)(mem_temp_c_values) AS hbm_q,
    hbm_q[1] AS hbm_p50_c,
    hbm_q[2] AS hbm_p99_c,
    max(mem_temp_c_max) AS hbm_max_c
FROM gpu_minute
WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                 AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
GROUP BY t
ORDER BY t
