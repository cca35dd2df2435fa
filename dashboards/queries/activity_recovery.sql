-- GPUs whose latest sample asks for recovery, with the action's name (gpufleet/contract/recovery.py).
SELECT ts AS time, cluster, rack, node, toString(gpu_index) AS gpu, uuid,
       transform(assumeNotNull(recovery_action), [1, 2, 3, 4, 5, 6, 7],
                 ['GPU_RESET', 'NODE_REBOOT', 'DRAIN_P2P', 'DRAIN_AND_RESET', 'RECOVER_IMEX_DOMAIN', 'BUS_RESET', 'SYSTEM_REBOOT'],
                 'UNKNOWN') AS action
FROM gpu_latest
WHERE recovery_action != 0 AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
ORDER BY node, gpu_index
LIMIT 500
