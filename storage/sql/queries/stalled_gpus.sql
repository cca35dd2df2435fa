-- GPUs busy doing nothing in the window: samples with utilization.gpu >= 90 % while GPM SM
-- activity <= 5 % (a hung kernel or collective), at least `min_samples` of them, worst
-- first, with mean utilization and SM activity (minute rollups).
-- Params: from_ms, to_ms (epoch ms), min_samples, limit.
-- Defaults: from_ms=now-24h, to_ms=now, min_samples=120, limit=50
SELECT rack, node, gpu_index, uuid, sum(stalled_samples) AS stalled_samples,
       round(sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0), 1) AS avg_util_pct,
       round(sum(sm_active_pct_sum) / nullIf(sum(sm_active_pct_count), 0), 1) AS avg_sm_active_pct,
       min(minute) AS first_minute
FROM gpu_minute
WHERE minute BETWEEN toStartOfMinute(fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
                 AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY rack, node, gpu_index, uuid
HAVING stalled_samples >= {min_samples:UInt32}
ORDER BY stalled_samples DESC, node, gpu_index
LIMIT {limit:UInt32}
