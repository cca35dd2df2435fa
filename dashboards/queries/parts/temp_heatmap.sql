-- GPUs per 5 °C band of the per-GPU minute mean of {{args}} (gpu_temp_c, mem_temp_c), per
-- interval: one column per band ({{bands}}), the layout Grafana's heatmap reads.
SELECT time, {{bands}}
FROM (
    SELECT $__timeInterval(minute) AS time, least(greatest(intDiv(toInt32(mean), 5) * 5, {{low}}), {{high}}) AS band
    FROM (
        SELECT minute, uuid, sum({{args}}_sum) / sum({{args}}_count) AS mean
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND {{args}}_count > 0
        GROUP BY minute, uuid  -- one GPU-minute may still sit in several unmerged parts
    )
)
GROUP BY time
ORDER BY time
