-- New uncorrectable (double-bit) ECC errors per GPU in the window: counter increase over the
-- per-minute rollup's min and max.
SELECT cluster, node, toString(gpu_index) AS gpu, max(ecc_uncorrected_count_max) - min(ecc_uncorrected_count_min) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value > 0
