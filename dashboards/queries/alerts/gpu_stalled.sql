-- GPUs busy doing nothing: samples in the window with utilization.gpu >= 90 % while GPM SM
-- activity <= 5 % (gpu_minute.stalled_samples, counted by the rollup view of migration 012):
-- a hung kernel or NCCL collective, which utilization alone shows as a healthy 100 %. Fires
-- from {{stall_min_samples}} such samples (2 minutes at 1 Hz). GPUs without GPM never match.
SELECT cluster, node, toString(gpu_index) AS gpu, toFloat64(sum(stalled_samples)) AS value
FROM gpu_minute
WHERE $__timeFilter(minute)
GROUP BY cluster, node, gpu
HAVING value >= {{stall_min_samples}}
