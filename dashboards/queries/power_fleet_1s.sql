-- Fleet power per second, in megawatts: the mean and the peak of the per-second totals in each
-- interval (at 1 s intervals both are the second itself).
SELECT $__timeInterval(ts) AS time, avg(megawatts) AS mean_megawatts, max(megawatts) AS peak_megawatts
FROM (SELECT ts, sum(power_mw) / 1e9 AS megawatts FROM power_fleet_1s WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY ts)
GROUP BY time
ORDER BY time
