-- GPUs with memory errors in the range: new uncorrectable ECC errors, uncorrectable remapped
-- rows, and whether a row remap is pending (needs a GPU reset) or has failed (RMA candidate).
SELECT cluster, rack, node, toString(gpu_index) AS gpu,
       max(ecc_uncorrected_count_max) - min(ecc_uncorrected_count_min) AS new_uncorrectable_ecc,
       max(ecc_corrected_count_max) - min(ecc_corrected_count_min) AS new_correctable_ecc,
       max(remapped_rows_uncorrectable_max) AS remapped_rows_uncorrectable,
       max(remap_pending_any) AS remap_pending,
       max(remap_failure_any) AS remap_failure
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY cluster, rack, node, gpu
HAVING new_uncorrectable_ecc > 0 OR remapped_rows_uncorrectable > 0 OR remap_pending OR remap_failure
ORDER BY remap_failure DESC, new_uncorrectable_ecc DESC
LIMIT 100
