-- Samples with the hardware power brake (0x80) asserted per GPU in the window: the board's
-- power-brake input pinned clocks low, usually a facility or PSU event on the whole node.
SELECT cluster, node, toString(gpu_index) AS gpu, sum(power_brake_samples) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{power_brake_min_samples}}
