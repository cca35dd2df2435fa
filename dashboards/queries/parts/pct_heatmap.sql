-- GPUs per 10 % band of the per-GPU minute mean of {{args}} (util_gpu_pct, sm_active_pct,
-- tensor_active_pct, dram_active_pct), per interval: one column per band ({{bands}}), named
-- by its lower bound; GPUs without the metric are left out, not counted as 0.
SELECT time, {{bands}}
FROM (
    SELECT $__timeInterval(minute) AS time, least(intDiv(toInt32(mean), 10) * 10, {{high}}) AS band
    FROM (
        SELECT minute, uuid, sum({{args}}_sum) / sum({{args}}_count) AS mean
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND {{args}}_count > 0
        GROUP BY minute, uuid  -- one GPU-minute may still sit in several unmerged parts
    )
)
GROUP BY time
ORDER BY time
