-- GPUs busy less than 5 % on average over the range (allocated capacity doing nothing),
-- against all GPUs that reported.
SELECT countIf(util < 5) AS idle_gpus, count() AS gpus
FROM (
    SELECT uuid, sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS util
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND util_gpu_pct_count > 0 GROUP BY uuid
)
