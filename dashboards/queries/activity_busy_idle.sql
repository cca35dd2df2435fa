-- GPUs busy by utilization.gpu but with idle SMs in the range (the stall signature), worst first:
-- samples that matched, mean utilization, mean SM and tensor activity.
SELECT cluster, rack, node, toString(gpu_index) AS gpu, sum(stalled_samples) AS stalled_samples,
       sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0) AS util_gpu_pct,
       sum(sm_active_pct_sum) / nullIf(sum(sm_active_pct_count), 0) AS sm_active_pct,
       sum(tensor_active_pct_sum) / nullIf(sum(tensor_active_pct_count), 0) AS tensor_active_pct
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY cluster, rack, node, gpu_index
HAVING stalled_samples > 0
ORDER BY stalled_samples DESC
LIMIT 100
