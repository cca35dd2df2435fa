-- GPU rows stored per second, by cluster (from the per-second power rollup's sample counts).
SELECT $__timeInterval(ts) AS time, cluster, sum(gpus) / uniqExact(ts) AS rows_per_s
FROM power_fleet_1s
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
GROUP BY time, cluster
ORDER BY time
