-- Mean GPU utilization per hall (per-minute rollup).
SELECT $__timeInterval(minute) AS time, hall, sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS util_pct
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND util_gpu_pct_count > 0
GROUP BY time, hall
ORDER BY time
