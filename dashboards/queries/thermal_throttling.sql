-- GPUs in thermal slowdown (software or hardware) per interval, by hall.
SELECT $__timeInterval(minute) AS time, hall, uniqExactIf(uuid, thermal_samples > 0) AS gpus
FROM (
    SELECT minute, hall, uuid, sum(thermal_samples) AS thermal_samples
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) GROUP BY minute, hall, uuid
)
GROUP BY time, hall
ORDER BY time
