-- XID events per interval by code.
SELECT $__timeInterval(ts) AS time, concat('XID ', toString(xid)) AS code, count() AS events
FROM gpu_events
WHERE $__timeFilter(ts) AND kind = 'xid' AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
GROUP BY time, code
ORDER BY time
