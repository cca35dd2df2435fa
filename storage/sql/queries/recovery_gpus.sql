-- GPUs whose driver asked for a recovery action (NVML field 230 not NONE) in the window: the
-- newest action per GPU from recovery-action events (which also cover GPUs that stopped
-- reporting), with NVML's code; `gpufleet.contract.recovery` names it.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT rack, node, gpu_index, uuid, action, changed_at, detail
FROM
(
    SELECT rack, node, assumeNotNull(gpu_index) AS gpu_index, any(uuid) AS uuid,
           argMax(assumeNotNull(recovery_action), ts) AS action, max(ts) AS changed_at, argMax(detail, ts) AS detail
    FROM gpu_events
    WHERE kind = 'recovery_action' AND gpu_index IS NOT NULL
      AND ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY rack, node, gpu_index
)
WHERE action != 0
ORDER BY node, gpu_index
