-- Fleet mean of GPM SM, tensor and DRAM activity next to utilization.gpu (per-minute rollup):
-- the gap between utilization and SM activity is work that keeps the GPU "busy" without
-- using its SMs (communication waits, hung kernels).
SELECT $__timeInterval(minute) AS time,
       sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0) AS util_gpu_pct,
       sum(sm_active_pct_sum) / nullIf(sum(sm_active_pct_count), 0) AS sm_active_pct,
       sum(tensor_active_pct_sum) / nullIf(sum(tensor_active_pct_count), 0) AS tensor_active_pct,
       sum(dram_active_pct_sum) / nullIf(sum(dram_active_pct_count), 0) AS dram_active_pct
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY time
ORDER BY time
