-- One metric of the selected GPUs over time, from raw samples (the node filter selects a
-- prefix of the table's sort key, so this reads only those GPUs): gauges averaged per
-- interval, counters as their increase within it.
SELECT $__timeInterval(ts) AS time, concat(node, '/', toString(gpu_index)) AS gpu_name, {{expr}} AS {{alias}}
FROM gpu_samples
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(node IN (${node:singlequote}), $node) AND $__conditionalAll(toString(gpu_index) IN (${gpu:singlequote}), $gpu)
GROUP BY time, gpu_name
ORDER BY time
