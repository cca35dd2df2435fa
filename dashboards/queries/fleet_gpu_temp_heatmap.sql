-- How many GPUs sit in each 5 °C band of core temperature, per interval (per-GPU minute
-- means from the per-minute rollup). One column per band, named by its lower bound, which
-- is the layout Grafana's heatmap reads; {{bands}} lists the columns.
SELECT time, {{bands}}
FROM (
    SELECT $__timeInterval(minute) AS time, least(greatest(intDiv(toInt32(mean), 5) * 5, {{low}}), {{high}}) AS band
    FROM (
        SELECT minute, uuid, sum(gpu_temp_c_sum) / sum(gpu_temp_c_count) AS mean
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND gpu_temp_c_count > 0
        GROUP BY minute, uuid  -- one GPU-minute may still sit in several unmerged parts
    )
)
GROUP BY time
ORDER BY time
