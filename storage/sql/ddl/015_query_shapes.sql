-- Issue 17: the minute rollup sorted by time as well, for the alert rules and the panels
-- that read the last few minutes of the whole fleet. gpu_minute is sorted by GPU, then
-- minute, so a 5-minute window still reads every GPU's day (the time column of the whole
-- day partition: 14.4 M rows at 10,000 GPUs for 50,000 rows wanted), and so do the partial
-- hours at the ends of a 24 h window that gpu_hour does not cover (part gpu_rollup_window).
-- The projection keeps the columns those readers use (not the quantile samples), sorted by minute first (then by place, so a rack's GPUs of
-- one minute are adjacent): the engine picks it when the window prunes granules, and answers
-- are the same either way (readers aggregate, and the projection holds the same rows).
-- `rebuild`: a merge of the aggregating table rebuilds the projection from the merged part
-- (the engine refuses projections on it otherwise). It costs one extra sort of each insert
-- block into gpu_minute (one row per GPU-minute, not per sample) and the columns' bytes
-- again (docs/benchmarks.md, "Queries that scale").
ALTER TABLE gpu_minute MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE gpu_minute
    ADD PROJECTION IF NOT EXISTS gpu_minute_by_time
    (
        SELECT
            minute, cluster, hall, row, rack, node, gpu_index, uuid, samples,
            gpu_temp_c_sum, gpu_temp_c_count, gpu_temp_c_max, mem_temp_c_max,
            util_gpu_pct_sum, util_gpu_pct_count, sm_clock_mhz_sum, sm_clock_mhz_count, sm_clock_mhz_min,
            reasons_seen, thermal_samples, power_brake_samples, power_cap_samples, hw_slowdown_samples, stalled_samples,
            energy_mj_min, energy_mj_max, ecc_uncorrected_count_min, ecc_uncorrected_count_max,
            remap_pending_any, remap_failure_any
        ORDER BY (minute, cluster, hall, row, rack, node, gpu_index, uuid)
    );

-- Rows stored before this migration get the projection too (a mutation over the table).
ALTER TABLE gpu_minute MATERIALIZE PROJECTION gpu_minute_by_time SETTINGS mutations_sync = 1;
