-- Fleet power per cluster over time, in megawatts: the mean of the per-second totals in each
-- interval (per-second rollup), so the curve does not depend on the zoom level.
SELECT $__timeInterval(ts) AS time, cluster, sum(power_mw) / 1e9 / uniqExact(ts) AS fleet_megawatts
FROM power_fleet_1s
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
GROUP BY time, cluster
ORDER BY time
