-- Fleet power in the window from the per-second rollup (power_fleet_1s): now (the latest
-- second stored), peak and lowest, in megawatts, and the GPUs that reported in that second.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-1h, to_ms=now
SELECT
    argMax(megawatts, ts) AS now_megawatts,
    max(megawatts) AS peak_megawatts,
    min(megawatts) AS low_megawatts,
    argMax(gpus, ts) AS gpus_reporting_now,
    max(ts) AS latest_ts
FROM
(
    -- @include fleet_power_seconds
)
