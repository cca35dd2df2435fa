-- Share of each GPU's samples in the window with a thermal slowdown reason (SW 0x20 or
-- HW 0x40), in percent: sustained thermal throttling, not a momentary touch.
SELECT cluster, node, toString(gpu_index) AS gpu, round(100 * sum(thermal_samples) / sum(samples), 1) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{thermal_throttle_min_pct}}
