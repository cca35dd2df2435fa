-- Energy used since midnight UTC of the range's end, in megawatt-hours, from each GPU's
-- energy counter (exact, not integrated from power) in the per-minute rollup. 1 MWh = 3.6e12 mJ.
SELECT sum(used_mj) / 3.6e12 AS energy_mwh
FROM
(
    SELECT uuid, max(energy_mj_max) - min(energy_mj_min) AS used_mj
    FROM gpu_minute
    WHERE minute >= toStartOfDay($__toTime) AND minute <= $__toTime AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
    GROUP BY uuid
)
