-- Fleet power ramp rate, in megawatts per second: the change between consecutive seconds of the
-- per-second total; per interval the steepest rise and the steepest fall. Utilities constrain
-- MW/s ramps (shared/reference/fleet-numbers.md §5).
SELECT $__timeInterval(ts) AS time, max(ramp) AS rise_megawatts_per_s, min(ramp) AS fall_megawatts_per_s
FROM
(
    SELECT ts, (megawatts - lagInFrame(megawatts) OVER w) / greatest(dateDiff('second', lagInFrame(ts) OVER w, ts), 1) AS ramp,
           row_number() OVER w AS n
    FROM (SELECT ts, sum(power_mw) / 1e9 AS megawatts FROM power_fleet_1s WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY ts)
    WINDOW w AS (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
WHERE n > 1
GROUP BY time
ORDER BY time
