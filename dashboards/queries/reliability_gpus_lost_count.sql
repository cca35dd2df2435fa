-- How many GPUs were lost in the range.
SELECT uniqExact(ifNull(uuid, '')) AS gpus_lost
FROM gpu_events
WHERE $__timeFilter(ts) AND kind = 'gpu_lost' AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
