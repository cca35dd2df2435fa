-- GPUs that spent any time in thermal slowdown, hardware power brake or software power cap,
-- per interval (clocks-event reason counters of the per-minute rollup).
SELECT $__timeInterval(minute) AS time,
       uniqExactIf(uuid, thermal_samples > 0) AS thermal,
       uniqExactIf(uuid, power_brake_samples > 0) AS power_brake,
       uniqExactIf(uuid, power_cap_samples > 0) AS power_cap
FROM (
    SELECT minute, uuid, sum(thermal_samples) AS thermal_samples, sum(power_brake_samples) AS power_brake_samples,
           sum(power_cap_samples) AS power_cap_samples
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY minute, uuid
)
GROUP BY time
ORDER BY time
