-- The deepest fleet power dips: per minute, how far the per-second total fell below that
-- minute's peak (checkpoints and collective waits make whole jobs drop together).
SELECT toStartOfMinute(ts) AS time, max(megawatts) AS peak_megawatts, min(megawatts) AS low_megawatts, max(megawatts) - min(megawatts) AS dip_megawatts,
       round(100 * (max(megawatts) - min(megawatts)) / max(megawatts), 1) AS dip_pct
FROM (SELECT ts, sum(power_mw) / 1e9 AS megawatts FROM power_fleet_1s WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY ts)
GROUP BY time
ORDER BY dip_megawatts DESC
LIMIT 20
