-- Per minute of the window, from power_fleet_1s: the steepest rise and the steepest fall of
-- the fleet's per-second total between consecutive seconds (MW/s) with when and the MW
-- reached, and the deepest drop below the peak of the preceding span_s seconds (MW) with
-- when, with the GPUs reporting at peak and trough (fewer at the trough: a dip from lost
-- reporters, not a checkpoint). The report marks the largest of these on its power plot;
-- power_swing gives the single largest of each for the whole window.
-- Params: from_ms, to_ms (epoch ms), span_s (seconds, e.g. 60).
-- Defaults: from_ms=now-1h, to_ms=now, span_s=60
WITH
series AS
(
    SELECT ts, sum(power_mw) / 1e9 AS mw, sum(gpus) AS gpus
    FROM power_fleet_1s
    WHERE ts BETWEEN toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC') AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
    GROUP BY ts
),
steps AS
(
    SELECT
        ts, mw, gpus,
        (mw - lagInFrame(mw, 1, mw) OVER w1) / greatest(dateDiff('second', lagInFrame(ts, 1, ts) OVER w1, ts), 1) AS ramp,
        max(mw) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak,
        argMax(gpus, mw) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak_gpus
    FROM series
    WINDOW w1 AS (ORDER BY ts ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
SELECT
    toStartOfMinute(ts) AS minute,
    max(ramp) AS rise_mw_per_s,
    argMax(ts, ramp) AS rise_at,
    argMax(mw, ramp) AS rise_to_mw,
    -min(ramp) AS fall_mw_per_s,
    argMin(ts, ramp) AS fall_at,
    argMin(mw, ramp) AS fall_to_mw,
    max(recent_peak - mw) AS dip_mw,
    argMax(ts, recent_peak - mw) AS dip_at,
    argMax(mw, recent_peak - mw) AS dip_trough_mw,
    argMax(recent_peak_gpus, recent_peak - mw) AS gpus_at_peak,
    argMax(gpus, recent_peak - mw) AS gpus_at_trough
FROM steps
GROUP BY minute
ORDER BY minute
