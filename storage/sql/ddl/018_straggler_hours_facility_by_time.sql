-- Issue 17: the `stragglers` statistic per GPU and clock hour, for windows of many hours. A
-- GPU's slow minutes compare its SM clock with the median of its rack's busy GPUs in the
-- same minute, which needs the whole rack's minute: no insert block holds one, so a view
-- cannot compute it. The writer computes an hour once the hour is over (storage/straggler_hours.py,
-- an INSERT ... SELECT over the hour's gpu_minute rows, ~10,000 rows per minute at 10,000
-- GPUs), and again when later rows for it arrive through the same writer. Every GPU of a
-- rack-hour gets a row (busy_minutes 0 where it never was busy), so a recomputation replaces
-- all of the rack-hour's rows (ReplacingMergeTree by computed_at, read FINAL). Every
-- recomputation carries a new computed_at, so block deduplication never drops one.
-- rack_samples is the rack-hour's raw sample count the rows were computed from: the query
-- uses a rack-hour only while it equals gpu_hour's count for that rack and hour, and computes
-- any other (late rows from another writer, a crash between insert and refresh) from
-- gpu_minute as before, so a stale row changes the speed, never the answer.
-- slow_minutes holds one count per deviation of the part straggler_deviations (0.05 ... 0.3);
-- another deviation is computed from gpu_minute. The sums are kept with their counts so that
-- the averages over any set of hours are exactly sum / count.
CREATE TABLE IF NOT EXISTS gpu_straggler_hour
(
    hour DateTime('UTC'),
    cluster LowCardinality(String),
    rack LowCardinality(String),
    node LowCardinality(String),
    gpu_index UInt8,
    uuid LowCardinality(String),
    rack_samples UInt64,
    busy_minutes UInt8,
    slow_minutes Array(UInt8),
    clock_minutes UInt8,
    clock_mhz_sum Float64,
    rack_clock_minutes UInt8,
    rack_clock_mhz_sum Float64,
    util_pct_sum Float64,
    rack_util_pct_sum Float64,
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, cluster, rack, node, gpu_index, uuid)
TTL hour + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- The facility alert rules read a few minutes of raw readings of every rack; sorted by series
-- then time, a 5-minute window reads one or two 8,192-row granules of each of the fleet's
-- ~1,000 series (157 racks x 6 sensors at 10,000 GPUs: ~10 M rows for 280,000 wanted). Sorted
-- by time first, it reads the window. The readings are ~10 % of the GPU rows, so the copy is
-- small beside gpu_samples; answers are the same either way (the rules aggregate).
ALTER TABLE facility_readings
    ADD PROJECTION IF NOT EXISTS facility_readings_by_time
    (
        SELECT * ORDER BY (ts, site, hall, rack, sensor)
    );

-- Readings stored before this migration get the projection too (a mutation over the table).
ALTER TABLE facility_readings MATERIALIZE PROJECTION facility_readings_by_time SETTINGS mutations_sync = 1;
