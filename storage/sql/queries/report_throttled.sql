-- GPUs whose clocks were held down in the window, and why: seconds (1 Hz samples) with
-- thermal slowdown (reason bits 0x20|0x40), hardware power brake (0x80), software power cap
-- (0x04) and hardware slowdown (0x08), the reasons as words, peak temperature and lowest SM
-- clock; `gpus_in_all` counts every GPU listed before the limit. The same figures as
-- throttled_gpus, with whole hours inside the window read from gpu_hour and only the
-- partial hours at its ends from gpu_minute (see report_rack_floor).
-- Params: from_ms, to_ms (epoch ms), min_s (seconds throttled to be listed), limit.
-- Defaults: from_ms=now-24h, to_ms=now, min_s=1, limit=50
SELECT
    rack, node, gpu_index, uuid,
    -- @include throttle_reasons
    , count() OVER () AS gpus_in_all
FROM
(
    -- @include gpu_rollup_window(rack, node, gpu_index, uuid, thermal_samples, power_brake_samples, power_cap_samples, hw_slowdown_samples, reasons_seen, gpu_temp_c_max, sm_clock_mhz_min)
)
GROUP BY rack, node, gpu_index, uuid
HAVING greatest(thermal_s, power_brake_s, power_cap_s, hw_slowdown_s) >= {min_s:UInt32}
ORDER BY thermal_s + power_brake_s + power_cap_s DESC, node, gpu_index
LIMIT {limit:UInt32}
