-- Fleet power in the newest complete second of the range, in megawatts (per-second rollup;
-- the newest second is skipped because collectors are still delivering it).
SELECT sum(power_mw) / 1e9 AS fleet_megawatts
FROM power_fleet_1s
WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
  AND ts = (SELECT max(ts) - 1 FROM power_fleet_1s WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster))
