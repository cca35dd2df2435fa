-- GPUs whose latest sample carries a recovery action other than NONE (NVML field 230).
SELECT countIf(recovery_action != 0) AS gpus_needing_recovery
FROM gpu_latest
WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
