-- GPUs that fell off the bus or stopped answering NVML (gpu_lost events) in the range.
SELECT ts AS time, cluster, rack, node, toString(gpu_index) AS gpu, uuid, detail
FROM gpu_events
WHERE $__timeFilter(ts) AND kind = 'gpu_lost' AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
ORDER BY time DESC
LIMIT 100
