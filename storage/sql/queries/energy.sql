-- Energy the fleet used in the window, from each GPU's energy counter (exact, not
-- integrated from power samples), in megawatt-hours; 1 MWh = 3.6e12 mJ. Read from the
-- rollups (counter min and max per hour from gpu_hour, per minute from gpu_minute at the
-- window's partial hours), so the window is widened to whole minutes; a counter that reset
-- (driver reload) in the window is undercounted.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT sum(used_mj) / 3.6e12 AS energy_megawatt_hours, count() AS gpus
FROM
(
    SELECT uuid, max(energy_mj_max) - min(energy_mj_min) AS used_mj
    FROM
    (
        -- @include gpu_rollup_window(uuid, energy_mj_min, energy_mj_max)
    )
    GROUP BY uuid
    HAVING used_mj IS NOT NULL
)
