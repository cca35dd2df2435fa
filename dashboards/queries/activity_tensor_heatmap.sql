-- How many GPUs sit in each 10 % band of GPM TENSOR activity, per interval (per-GPU minute
-- means of tensor_active_pct; GPUs without GPM are left out, not counted as 0).
SELECT time, {{bands}}
FROM (
    SELECT $__timeInterval(minute) AS time, least(intDiv(toInt32(mean), 10) * 10, {{high}}) AS band
    FROM (
        SELECT minute, uuid, sum(tensor_active_pct_sum) / sum(tensor_active_pct_count) AS mean
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND tensor_active_pct_count > 0
        GROUP BY minute, uuid  -- one GPU-minute may still sit in several unmerged parts
    )
)
GROUP BY time
ORDER BY time
