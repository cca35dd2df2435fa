-- GPUs with at least 2 minutes (120 samples) busy with idle SMs in the range: the "GPU stalled" signature.
SELECT count() AS stalled_gpus
FROM (
    SELECT uuid FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
    GROUP BY uuid HAVING sum(stalled_samples) >= 120
)
