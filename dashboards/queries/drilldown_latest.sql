-- The newest sample of every selected GPU at the end of the range.
SELECT node, toString(gpu_index) AS gpu, uuid, max(ts) AS time,
       argMax(power_mw, ts) / 1000 AS power_w, argMax(gpu_temp_c, ts) AS gpu_temp_c, argMax(mem_temp_c, ts) AS hbm_temp_c,
       argMax(util_gpu_pct, ts) AS util_pct, argMax(sm_clock_mhz, ts) AS sm_clock_mhz, argMax(pstate, ts) AS pstate,
       argMax(clocks_event_reasons, ts) AS clocks_event_reasons, argMax(ecc_uncorrected_count, ts) AS ecc_uncorrected,
       argMax(remap_pending, ts) AS remap_pending, argMax(remap_failure, ts) AS remap_failure
FROM gpu_samples
WHERE ts >= $__toTime - INTERVAL 5 MINUTE AND ts <= $__toTime AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(node IN (${node:singlequote}), $node) AND $__conditionalAll(toString(gpu_index) IN (${gpu:singlequote}), $gpu)
GROUP BY node, gpu, uuid
ORDER BY node, gpu
