-- GPUs held by the software power cap or the hardware power brake, per interval.
SELECT $__timeInterval(minute) AS time,
       uniqExactIf(uuid, power_cap_samples > 0) AS power_cap,
       uniqExactIf(uuid, power_brake_samples > 0) AS power_brake
FROM (
    SELECT minute, uuid, sum(power_cap_samples) AS power_cap_samples, sum(power_brake_samples) AS power_brake_samples
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) GROUP BY minute, uuid
)
GROUP BY time
ORDER BY time
