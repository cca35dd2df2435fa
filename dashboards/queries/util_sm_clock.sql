-- SM clock per hall: median and 5th percentile of per-GPU minute means (a low tail shows slow GPUs).
SELECT $__timeInterval(minute) AS time, hall, quantile(0.5)(clock) AS p50_mhz, quantile(0.05)(clock) AS p5_mhz
FROM (
    SELECT minute, hall, uuid, sum(sm_clock_mhz_sum) / sum(sm_clock_mhz_count) AS clock
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND sm_clock_mhz_count > 0 GROUP BY minute, hall, uuid
)
GROUP BY time, hall
ORDER BY time
