-- GPUs whose clocks were held down in the window, and why: seconds (1 Hz samples) with
-- thermal slowdown (reason bits 0x20|0x40), hardware power brake (0x80), software power cap
-- (0x04) and hardware slowdown (0x08), the reasons as words, peak temperature and lowest SM
-- clock, from the hour and minute rollups (whole hours from gpu_hour). Idle (0x01) and application-clock settings do not count.
-- Params: from_ms, to_ms (epoch ms), min_s (seconds throttled to be listed), limit.
-- Defaults: from_ms=now-1h, to_ms=now, min_s=1, limit=50
SELECT
    any(rack) AS rack, any(node) AS node, any(gpu_index) AS gpu_index, uuid,
    -- @include throttle_reasons
FROM
(
    -- @include gpu_rollup_window(rack, node, gpu_index, uuid, thermal_samples, power_brake_samples, power_cap_samples, hw_slowdown_samples, reasons_seen, gpu_temp_c_max, sm_clock_mhz_min)
)
GROUP BY uuid
HAVING greatest(thermal_s, power_brake_s, power_cap_s, hw_slowdown_s) >= {min_s:UInt32}
ORDER BY thermal_s + power_brake_s + power_cap_s DESC, node, gpu_index
LIMIT {limit:UInt32}
