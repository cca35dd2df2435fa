-- Fleet power over the window as a time series for a panel: per step, the average, peak and
-- lowest of the per-second fleet total (MW) and the GPUs reporting, from power_fleet_1s.
-- Params: from_ms, to_ms (epoch ms), step_s (seconds per point, e.g. 60).
-- Defaults: from_ms=now-24h, to_ms=now, step_s=60
SELECT
    toStartOfInterval(ts, toIntervalSecond({step_s:UInt32})) AS t,
    avg(megawatts) AS avg_megawatts,
    max(megawatts) AS peak_megawatts,
    min(megawatts) AS low_megawatts,
    max(gpus) AS gpus_reporting
FROM
(
    -- @include fleet_power_seconds
)
GROUP BY t
ORDER BY t
