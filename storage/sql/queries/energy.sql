-- Energy the fleet used in the window, from each GPU's energy counter (exact, not
-- integrated from power samples), in megawatt-hours; 1 MWh = 3.6e12 mJ. Read from the
-- per-minute rollup (counter min and max per minute), so the window is widened to whole
-- minutes; a counter that reset (driver reload) in the window is undercounted.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT sum(used_mj) / 3.6e12 AS energy_megawatt_hours, count() AS gpus
FROM
(
    SELECT uuid, max(energy_mj_max) - min(energy_mj_min) AS used_mj
    FROM gpu_minute
    WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                     AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
    GROUP BY uuid
    HAVING used_mj IS NOT NULL
)
