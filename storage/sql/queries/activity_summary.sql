-- What the fleet's GPUs did in the window (minute rollups): mean utilization.gpu next to GPM
-- SM, tensor and DRAM activity (GPUs without GPM are left out of those means), how many GPUs
-- were stalled (>= `stall_min_samples` samples busy with idle SMs) and how many had a
-- recovery action other than NONE in a sample.
-- Params: from_ms, to_ms (epoch ms), stall_min_samples.
-- Defaults: from_ms=now-24h, to_ms=now, stall_min_samples=120
SELECT
    round(sum(util_sum) / nullIf(sum(util_count), 0), 1) AS util_gpu_pct,
    round(sum(sm_sum) / nullIf(sum(sm_count), 0), 1) AS sm_active_pct,
    round(sum(tensor_sum) / nullIf(sum(tensor_count), 0), 1) AS tensor_active_pct,
    round(sum(dram_sum) / nullIf(sum(dram_count), 0), 1) AS dram_active_pct,
    countIf(stalled >= {stall_min_samples:UInt32}) AS gpus_stalled,
    countIf(ifNull(action, 0) != 0) AS gpus_needing_recovery,
    countIf(sm_count > 0) AS gpus_with_gpm
FROM
(
    SELECT uuid, sum(util_gpu_pct_sum) AS util_sum, sum(util_gpu_pct_count) AS util_count,
           sum(sm_active_pct_sum) AS sm_sum, sum(sm_active_pct_count) AS sm_count,
           sum(tensor_active_pct_sum) AS tensor_sum, sum(tensor_active_pct_count) AS tensor_count,
           sum(dram_active_pct_sum) AS dram_sum, sum(dram_active_pct_count) AS dram_count,
           sum(stalled_samples) AS stalled, max(recovery_action_max) AS action
    FROM gpu_minute
    WHERE minute BETWEEN toStartOfMinute(fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC'))
                     AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY uuid
)
