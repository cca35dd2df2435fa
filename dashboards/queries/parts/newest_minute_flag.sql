-- Per GPU, 1 when the newest minute in the window has the rollup flag {{args}} set (a GPU
-- whose flag cleared, e.g. after a reset, stops firing); GPUs without it are left out.
SELECT cluster, node, gpu, toUInt8(argMax(flag, minute)) AS value
FROM
(
    SELECT cluster, node, toString(gpu_index) AS gpu, minute, max(ifNull({{args}}, false)) AS flag
    FROM gpu_minute
    WHERE $__timeFilter(minute)
    GROUP BY cluster, node, gpu, minute
)
GROUP BY cluster, node, gpu
HAVING value > 0
