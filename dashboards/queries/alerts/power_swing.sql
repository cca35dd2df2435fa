-- Steepest fleet power ramp per cluster in the window, in MW/s: the change between consecutive
-- seconds of the per-second total. The newest 2 s are left out: collectors are still
-- delivering them, and a half-filled second would look like a crash of the fleet's power.
SELECT cluster, round(max(abs(ramp)), 3) AS value
FROM
(
    SELECT cluster, (megawatts - lagInFrame(megawatts) OVER w) / greatest(dateDiff('second', lagInFrame(ts) OVER w, ts), 1) AS ramp,
           row_number() OVER w AS n
    FROM
    (
        SELECT cluster, ts, sum(power_mw) / 1e9 AS megawatts
        FROM power_fleet_1s
        WHERE $__timeFilter(ts)
        GROUP BY cluster, ts
    )
    WHERE ts <= $__toTime - INTERVAL 2 SECOND
    WINDOW w AS (PARTITION BY cluster ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
WHERE n > 1
GROUP BY cluster
HAVING value > {{power_ramp_megawatts_per_s}}
