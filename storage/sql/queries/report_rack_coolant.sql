-- Coolant supply temperature per rack's CDU in the window, from the facility per-minute
-- rollup (facility_minute, sensor cdu_supply_temp_c): the highest reading and the mean, °C.
-- Empty when no facility data was bridged. Racks are matched to the GPUs by hall and rack.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT
    hall, rack,
    max(value_max) AS peak_supply_c,
    round(sum(value_sum) / nullIf(sum(value_count), 0), 2) AS mean_supply_c
FROM facility_minute
WHERE sensor = 'cdu_supply_temp_c'
  AND minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                 AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
GROUP BY hall, rack
ORDER BY hall, rack
