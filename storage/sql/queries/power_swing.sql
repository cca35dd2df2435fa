-- Power swing of the fleet in the window, from power_fleet_1s: the steepest rise and the
-- steepest fall between consecutive seconds (MW/s, both positive), and the largest drop from
-- a peak to a trough at most span_s seconds later (MW), with when it happened and the GPUs
-- reporting at peak and trough (fewer GPUs at the trough means a dip from lost reporters,
-- not load). Synchronised checkpoints and collective phases show up here; utilities care
-- about MW/s ramps.
-- Params: from_ms, to_ms (epoch ms), span_s (seconds, e.g. 60).
-- Defaults: from_ms=now-1h, to_ms=now, span_s=60
WITH
    -- @include fleet_power_steps
SELECT
    max(ramp) AS max_rise_megawatts_per_s,
    argMax(ts, ramp) AS max_rise_at,
    -min(ramp) AS max_fall_megawatts_per_s,
    argMin(ts, ramp) AS max_fall_at,
    max(recent_peak - megawatts) AS largest_drop_megawatts,
    argMax(recent_peak_ts, recent_peak - megawatts) AS largest_drop_from,
    argMax(ts, recent_peak - megawatts) AS largest_drop_to,
    argMax(recent_peak, recent_peak - megawatts) AS largest_drop_peak_megawatts,
    argMax(megawatts, recent_peak - megawatts) AS largest_drop_trough_megawatts,
    argMax(recent_peak_gpus, recent_peak - megawatts) AS gpus_at_peak,
    argMax(gpus, recent_peak - megawatts) AS gpus_at_trough
FROM steps
