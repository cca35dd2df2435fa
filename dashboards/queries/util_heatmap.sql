-- How many GPUs sit in each 10 % band of utilization, per interval (per-GPU minute means).
-- One column per band, named by its lower bound.
SELECT time, {{bands}}
FROM (
    SELECT $__timeInterval(minute) AS time, least(intDiv(toInt32(mean), 10) * 10, {{high}}) AS band
    FROM (
        SELECT minute, uuid, sum(util_gpu_pct_sum) / sum(util_gpu_pct_count) AS mean
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND util_gpu_pct_count > 0
        GROUP BY minute, uuid  -- one GPU-minute may still sit in several unmerged parts
    )
)
GROUP BY time
ORDER BY time
