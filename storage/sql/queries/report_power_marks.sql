-- Per minute of the window, from power_fleet_1s: the steepest rise and the steepest fall of
-- the fleet's per-second total between consecutive seconds (MW/s) with when and the MW
-- reached, and the deepest drop below the peak of the preceding span_s seconds (MW) with
-- when, with the GPUs reporting at peak and trough (fewer at the trough: a dip from lost
-- reporters, not a checkpoint). The report marks the largest of these on its power plot;
-- power_swing gives the single largest of each for the whole window.
-- Params: from_ms, to_ms (epoch ms), span_s (seconds, e.g. 60).
-- Defaults: from_ms=now-1h, to_ms=now, span_s=60
WITH
    -- @include fleet_power_steps
SELECT
    toStartOfMinute(ts) AS minute,
    max(ramp) AS rise_megawatts_per_s,
    argMax(ts, ramp) AS rise_at,
    argMax(megawatts, ramp) AS rise_to_megawatts,
    -min(ramp) AS fall_megawatts_per_s,
    argMin(ts, ramp) AS fall_at,
    argMin(megawatts, ramp) AS fall_to_megawatts,
    max(recent_peak - megawatts) AS dip_megawatts,
    argMax(ts, recent_peak - megawatts) AS dip_at,
    argMax(megawatts, recent_peak - megawatts) AS dip_trough_megawatts,
    argMax(recent_peak_gpus, recent_peak - megawatts) AS gpus_at_peak,
    argMax(gpus, recent_peak - megawatts) AS gpus_at_trough
FROM steps
GROUP BY minute
ORDER BY minute
