-- Core temperature across the selected GPUs: median, 99th percentile and hottest, per interval.
SELECT $__timeInterval(minute) AS time, q[1] AS p50_c, q[2] AS p99_c, hottest_c
FROM (
    SELECT minute, quantilesTimingArray(0.5, 0.99)(gpu_temp_c_values) AS q, max(gpu_temp_c_max) AS hottest_c
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack) GROUP BY minute
)
ORDER BY time
