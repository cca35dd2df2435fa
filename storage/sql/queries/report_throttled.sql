-- GPUs whose clocks were held down in the window, and why: seconds (1 Hz samples) with
-- thermal slowdown (reason bits 0x20|0x40), hardware power brake (0x80), software power cap
-- (0x04) and hardware slowdown (0x08), the reasons as words, peak temperature and lowest SM
-- clock; `gpus_in_all` counts every GPU listed before the limit. The same figures as
-- throttled_gpus, with whole hours inside the window read from gpu_hour and only the
-- partial hours at its ends from gpu_minute (see report_rack_floor).
-- Params: from_ms, to_ms (epoch ms), min_s (seconds throttled to be listed), limit.
-- Defaults: from_ms=now-24h, to_ms=now, min_s=1, limit=50
WITH
    toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS m0,
    toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS t1,
    if(toStartOfHour(m0) = m0, m0, toStartOfHour(m0) + INTERVAL 1 HOUR) AS h0,
    toStartOfHour(t1 - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS h1
SELECT
    rack, node, gpu_index, uuid,
    sum(thermal_samples) AS thermal_s,
    sum(power_brake_samples) AS power_brake_s,
    sum(power_cap_samples) AS power_cap_s,
    sum(hw_slowdown_samples) AS hw_slowdown_s,
    arrayStringConcat(arrayFilter(w -> w != '', [
        if(thermal_s > 0, 'thermal', ''), if(power_brake_s > 0, 'power brake', ''),
        if(power_cap_s > 0, 'power cap', ''), if(hw_slowdown_s > 0, 'hw slowdown', '')]), ', ') AS why,
    groupBitOr(reasons_seen) AS reasons_seen,
    max(gpu_temp_c_max) AS peak_gpu_temp_c,
    min(sm_clock_mhz_min) AS lowest_sm_clock_mhz,
    count() OVER () AS gpus_in_all
FROM
(
    SELECT rack, node, gpu_index, uuid, thermal_samples, power_brake_samples, power_cap_samples, hw_slowdown_samples,
           reasons_seen, gpu_temp_c_max, sm_clock_mhz_min
    FROM gpu_hour WHERE hour >= h0 AND hour < h1
    UNION ALL
    SELECT rack, node, gpu_index, uuid, thermal_samples, power_brake_samples, power_cap_samples, hw_slowdown_samples,
           reasons_seen, gpu_temp_c_max, sm_clock_mhz_min
    FROM gpu_minute WHERE minute BETWEEN m0 AND t1 AND NOT (minute >= h0 AND minute < h1)
)
GROUP BY rack, node, gpu_index, uuid
HAVING greatest(thermal_s, power_brake_s, power_cap_s, hw_slowdown_s) >= {min_s:UInt32}
ORDER BY thermal_s + power_brake_s + power_cap_s DESC, node, gpu_index
LIMIT {limit:UInt32}
