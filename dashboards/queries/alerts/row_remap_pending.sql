-- GPUs whose newest minute in the window shows a pending row remap (a reset applies it).
SELECT cluster, node, gpu, toUInt8(argMax(pending, minute)) AS value
FROM
(
    SELECT cluster, node, toString(gpu_index) AS gpu, minute, max(ifNull(remap_pending_any, false)) AS pending
    FROM gpu_minute
    WHERE $__timeFilter(minute)
    GROUP BY cluster, node, gpu, minute
)
GROUP BY cluster, node, gpu
HAVING value > 0
