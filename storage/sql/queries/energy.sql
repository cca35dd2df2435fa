-- Energy the fleet used in the window, from each GPU's energy counter (exact, not
-- integrated from power samples), in megawatt-hours. 1 MWh = 3.6e12 mJ.
-- Params: from_ms, to_ms (epoch ms).
SELECT sum(used_mj) / 3.6e12 AS energy_megawatt_hours, count() AS gpus
FROM
(
    SELECT uuid, max(energy_mj) - min(energy_mj) AS used_mj
    FROM gpu_samples
    WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY uuid
)
