-- Nodes whose GPUs hit the hardware power brake in the range: GPUs affected, seconds braked.
SELECT cluster, hall, rack, node, uniqExact(gpu_index) AS gpus, sum(power_brake_samples) AS braked_s,
       min(minute) AS first_seen, max(minute) AS last_seen
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND power_brake_samples > 0
GROUP BY cluster, hall, rack, node
ORDER BY braked_s DESC
LIMIT 50
