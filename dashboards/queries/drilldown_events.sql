-- Events of the selected nodes in the range: XIDs, GPUs lost, collector starts and stops.
SELECT ts AS time, node, toString(gpu_index) AS gpu, kind, xid, severity, detail
FROM gpu_events
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(node IN (${node:singlequote}), $node)
ORDER BY time DESC
LIMIT 200
