-- GPUs reported lost (fell off the bus, NVML GPU_IS_LOST) in the window.
SELECT cluster, node, ifNull(toString(gpu_index), '') AS gpu, count() AS value
FROM gpu_events
WHERE $__timeFilter(ts) AND kind = 'gpu_lost'
GROUP BY cluster, node, gpu
