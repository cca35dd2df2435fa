-- Energy the fleet used in the window, in megawatt-hours, from each GPU's energy counter:
-- the same figure as `energy` (1 MWh = 3.6e12 mJ; the window widened to whole minutes; a
-- counter that reset in the window is undercounted), with whole hours inside the window read
-- from gpu_hour and only the partial hours at its ends from gpu_minute (see report_rack_floor).
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
WITH
    toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS m0,
    toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS t1,
    if(toStartOfHour(m0) = m0, m0, toStartOfHour(m0) + INTERVAL 1 HOUR) AS h0,
    toStartOfHour(t1 - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS h1
SELECT sum(used_mj) / 3.6e12 AS energy_megawatt_hours, count() AS gpus
FROM
(
    SELECT uuid, max(energy_mj_max) - min(energy_mj_min) AS used_mj
    FROM
    (
        SELECT uuid, energy_mj_min, energy_mj_max FROM gpu_hour WHERE hour >= h0 AND hour < h1
        UNION ALL
        SELECT uuid, energy_mj_min, energy_mj_max FROM gpu_minute WHERE minute BETWEEN m0 AND t1 AND NOT (minute >= h0 AND minute < h1)
    )
    GROUP BY uuid
    HAVING used_mj IS NOT NULL
)
