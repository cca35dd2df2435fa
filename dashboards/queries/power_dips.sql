-- The deepest fleet power dips: per minute, how far the per-second total fell below that
-- minute's peak (checkpoints and collective waits make whole jobs drop together).
SELECT toStartOfMinute(ts) AS time, max(mw) AS peak_mw, min(mw) AS low_mw, max(mw) - min(mw) AS dip_mw,
       round(100 * (max(mw) - min(mw)) / max(mw), 1) AS dip_pct
FROM (SELECT ts, sum(power_mw) / 1e9 AS mw FROM power_fleet_1s WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY ts)
GROUP BY time
ORDER BY dip_mw DESC
LIMIT 20
