-- GPUs whose newest minute in the window shows a failed row remap: no spare rows left.
SELECT cluster, node, gpu, toUInt8(argMax(failed, minute)) AS value
FROM
(
    SELECT cluster, node, toString(gpu_index) AS gpu, minute, max(ifNull(remap_failure_any, false)) AS failed
    FROM gpu_minute
    WHERE $__timeFilter(minute)
    GROUP BY cluster, node, gpu, minute
)
GROUP BY cluster, node, gpu
HAVING value > 0
