-- Two CTEs over the fleet's per-second power (power_fleet_1s) in [from_ms, to_ms]: `series`
-- (ts, megawatts, GPUs reporting) and `steps`, which adds the ramp from the previous second (MW/s)
-- and the peak of the preceding span_s seconds with its time and GPUs. Included after WITH.
series AS
(
    -- @include fleet_power_seconds
),
steps AS
(
    SELECT
        ts, megawatts, gpus,
        (megawatts - lagInFrame(megawatts, 1, megawatts) OVER w1) / greatest(dateDiff('second', lagInFrame(ts, 1, ts) OVER w1, ts), 1) AS ramp,
        max(megawatts) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak,
        argMax(ts, megawatts) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak_ts,
        argMax(gpus, megawatts) OVER (ORDER BY ts ASC RANGE BETWEEN {span_s:UInt32} PRECEDING AND CURRENT ROW) AS recent_peak_gpus
    FROM series
    WINDOW w1 AS (ORDER BY ts ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
