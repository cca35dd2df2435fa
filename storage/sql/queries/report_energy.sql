-- Energy the fleet used in the window, in megawatt-hours, from each GPU's energy counter:
-- the same figure as `energy` (1 MWh = 3.6e12 mJ; the window widened to whole minutes; a
-- counter that reset in the window is undercounted), with whole hours inside the window read
-- from gpu_hour and only the partial hours at its ends from gpu_minute (see report_rack_floor).
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
