-- The fleet's total power per second in [from_ms, to_ms], in megawatts, with the GPUs that
-- reported in that second, from the per-second rollup power_fleet_1s. Included inside FROM ( ).
SELECT ts, sum(power_mw) / 1e9 AS megawatts, sum(gpus) AS gpus
FROM power_fleet_1s
WHERE ts BETWEEN toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC') AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
GROUP BY ts
