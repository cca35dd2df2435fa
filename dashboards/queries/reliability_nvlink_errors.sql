-- NVLink error counter increases per interval: CRC, replay and recovery errors. Any replay or
-- recovery increase is a DCGM health failure on NVLink 4 (H100/H200).
SELECT time, sum(crc) AS crc_errors, sum(replay) AS replay_errors, sum(recovery) AS recovery_errors
FROM (
    SELECT $__timeInterval(minute) AS time, uuid,
           max(nvlink_crc_errors_max) - min(nvlink_crc_errors_min) AS crc,
           max(nvlink_replay_errors_max) - min(nvlink_replay_errors_min) AS replay,
           max(nvlink_recovery_errors_max) - min(nvlink_recovery_errors_min) AS recovery
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) GROUP BY time, uuid
)
GROUP BY time
ORDER BY time
