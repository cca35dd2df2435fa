-- Per-node drill-down: GPM SM, tensor and DRAM activity of each GPU of the selected nodes,
-- from raw samples (the node filter selects a prefix of the table's sort key).
SELECT $__timeInterval(ts) AS time, concat(node, '/', toString(gpu_index)) AS gpu_name,
       avg(sm_active_pct) AS sm_active_pct, avg(tensor_active_pct) AS tensor_active_pct, avg(dram_active_pct) AS dram_active_pct
FROM gpu_samples
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(node IN (${node:singlequote}), $node)
GROUP BY time, gpu_name
ORDER BY time
