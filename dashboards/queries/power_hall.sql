-- Power per hall, in megawatts (mean of per-second totals per interval, per-second rollup).
SELECT $__timeInterval(ts) AS time, hall, sum(power_mw) / 1e9 / uniqExact(ts) AS hall_megawatts
FROM power_hall_1s
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY time, hall
ORDER BY time
