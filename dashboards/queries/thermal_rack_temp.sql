-- Mean core temperature per selected rack, per interval.
SELECT $__timeInterval(minute) AS time, rack, sum(gpu_temp_c_sum) / sum(gpu_temp_c_count) AS mean_gpu_c
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack) AND gpu_temp_c_count > 0
GROUP BY time, rack
ORDER BY time
