-- Power swing of the fleet in the window, from power_fleet_1s: the steepest rise and the
-- steepest fall between consecutive seconds (MW/s, both positive), and the largest drop from
-- a peak to a trough at most span_s seconds later (MW), with when it happened and the GPUs
-- reporting at peak and trough (fewer GPUs at the trough means a dip from lost reporters,
-- not load). Synchronised checkpoints and collective phases show up here; utilities care
-- about MW/s ramps.
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
        argMax(ts, mw) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak_ts,
        argMax(gpus, mw) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak_gpus
    FROM series
    WINDOW w1 AS (ORDER BY ts ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
SELECT
    max(ramp) AS max_rise_mw_per_s,
    argMax(ts, ramp) AS max_rise_at,
    -min(ramp) AS max_fall_mw_per_s,
    argMin(ts, ramp) AS max_fall_at,
    max(recent_peak - mw) AS largest_drop_mw,
    argMax(recent_peak_ts, recent_peak - mw) AS largest_drop_from,
    argMax(ts, recent_peak - mw) AS largest_drop_to,
    argMax(recent_peak, recent_peak - mw) AS largest_drop_peak_mw,
    argMax(mw, recent_peak - mw) AS largest_drop_trough_mw,
    argMax(recent_peak_gpus, recent_peak - mw) AS gpus_at_peak,
    argMax(gpus, recent_peak - mw) AS gpus_at_trough
FROM steps
