-- Freshness per cluster: seconds between the end of the range and the newest stored sample.
SELECT cluster, dateDiff('second', max(ts), $__toTime) AS freshness_s
FROM gpu_latest_state FINAL
WHERE ts <= $__toTime AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
GROUP BY cluster
ORDER BY cluster
