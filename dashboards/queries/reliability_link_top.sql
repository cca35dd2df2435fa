-- GPUs with the most PCIe replays and NVLink errors in the range.
SELECT cluster, rack, node, toString(gpu_index) AS gpu,
       max(pcie_replay_count_max) - min(pcie_replay_count_min) AS pcie_replays,
       max(nvlink_crc_errors_max) - min(nvlink_crc_errors_min) AS nvlink_crc,
       max(nvlink_replay_errors_max) - min(nvlink_replay_errors_min) AS nvlink_replay,
       max(nvlink_recovery_errors_max) - min(nvlink_recovery_errors_min) AS nvlink_recovery
FROM gpu_minute
WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
GROUP BY cluster, rack, node, gpu
HAVING pcie_replays + nvlink_crc + nvlink_replay + nvlink_recovery > 0
ORDER BY nvlink_recovery + nvlink_replay DESC, pcie_replays DESC
LIMIT 50
