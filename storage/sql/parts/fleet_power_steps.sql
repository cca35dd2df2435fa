-- Two CTEs over the fleet's per-second power (power_fleet_1s) in [from_ms, to_ms]: `series`
-- (ts, megawatts, GPUs reporting) and `steps`, which adds the ramp from the previous second (MW/s)
-- and the peak of the preceding span_s seconds with its time and GPUs (one sliding window:
-- argMax of the (megawatts, ts, gpus) tuple, the earliest peak on ties, as three windows did;
-- each sliding window re-aggregates its frame per row, so one costs a third of three).
-- Included after WITH.
series AS
(
    -- @include fleet_power_seconds
),
steps AS
(
    SELECT ts, megawatts, gpus, ramp, peak.1 AS recent_peak, peak.2 AS recent_peak_ts, peak.3 AS recent_peak_gpus
    FROM
    (
        SELECT
            ts, megawatts, gpus,
            (megawatts - lagInFrame(megawatts, 1, megawatts) OVER w1) / greatest(dateDiff('second', lagInFrame(ts, 1, ts) OVER w1, ts), 1) AS ramp,
            argMax((megawatts, ts, gpus), megawatts) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS peak
        FROM series
        WINDOW w1 AS (ORDER BY ts ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    )
)
