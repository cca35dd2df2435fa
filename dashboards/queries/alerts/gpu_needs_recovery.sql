-- GPUs whose driver asks for a recovery action (NVML field 230 not NONE): the newest reading
-- per GPU in the window, from its latest sample or from recovery-action events (which also
-- cover a GPU that has stopped reporting). Labels name the action and the runbook step
-- (gpufleet/contract/recovery.py); value = NVML's code.
SELECT cluster, node, gpu,
       transform(code, [{{recovery_codes}}], [{{recovery_names}}], concat('UNKNOWN(', toString(code), ')')) AS recovery_action,
       transform(code, [{{recovery_codes}}], [{{recovery_steps}}], 'check the driver documentation for this code') AS step,
       toFloat64(code) AS value
FROM
(
    SELECT cluster, node, gpu, argMax(action, ts) AS code
    FROM
    (
        SELECT cluster, node, toString(gpu_index) AS gpu, ts, assumeNotNull(recovery_action) AS action
        FROM gpu_latest_state FINAL
        WHERE $__timeFilter(ts) AND recovery_action IS NOT NULL
        UNION ALL
        SELECT cluster, node, toString(assumeNotNull(gpu_index)) AS gpu, ts, assumeNotNull(recovery_action) AS action
        FROM gpu_events
        WHERE $__timeFilter(ts) AND kind = 'recovery_action' AND gpu_index IS NOT NULL AND recovery_action IS NOT NULL
    )
    GROUP BY cluster, node, gpu
)
WHERE code != 0
