-- GPUs that showed a fault in the window, one row per GPU with what was seen:
-- thermal throttling (0x20/0x40), power brake (0x80), new uncorrectable ECC errors,
-- row remap pending or failed, and whether the GPU stopped reporting before the window ended.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-1h, to_ms=now
SELECT
    rack, node, gpu_index, uuid,
    bitAnd(groupBitOr(clocks_event_reasons), 0x60) != 0 AS thermal_throttle,
    bitAnd(groupBitOr(clocks_event_reasons), 0x80) != 0 AS power_brake,
    max(ecc_uncorrected_count) - min(ecc_uncorrected_count) AS new_uncorrectable_ecc,
    max(remap_pending) AS remap_pending,
    max(remap_failure) AS remap_failure,
    max(ts) < (SELECT max(ts) FROM gpu_samples
               WHERE ts <= fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) - INTERVAL 10 SECOND AS stopped_reporting
FROM gpu_samples
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY rack, node, gpu_index, uuid
HAVING thermal_throttle OR power_brake OR new_uncorrectable_ecc > 0 OR remap_pending OR remap_failure OR stopped_reporting
ORDER BY node, gpu_index
