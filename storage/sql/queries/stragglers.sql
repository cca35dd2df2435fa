-- Stragglers: busy GPUs whose SM clock stays below their rack's busy peers. Per minute, a GPU
-- is slow when its average SM clock is under (1 - deviation) x the median of the busy GPUs
-- (utilization >= 5 %) in its rack; it is listed when slow for at least min_minutes minutes.
-- One slow GPU holds back every GPU of a synchronous job. Rack peers stand in for job peers
-- (jobs are not in the schema); utilization is shown beside the clock but not used to flag,
-- since two jobs sharing a rack can differ in utilization legitimately. A whole rack slowed
-- by heat is not a straggler: see throttled_gpus. Whole clock hours come from
-- gpu_straggler_hour (018: the same sums per GPU-hour, computed by the writer once the hour
-- is over) for each rack-hour whose stored sample count still equals gpu_hour's, and only
-- for the deviations it keeps; every other minute of the window (the partial hours at its
-- ends, the open hour, a rack-hour with later rows, another deviation) is computed from
-- gpu_minute (part straggler_racks, then per GPU as the writer does). The averages are sums
-- over counts of both.
-- Params: from_ms, to_ms (epoch ms), deviation (e.g. 0.1), min_minutes.
-- Defaults: from_ms=now-1h, to_ms=now, deviation=0.1, min_minutes=5
WITH
    -- @include straggler_deviations
    toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS m0,
    toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS t1,
    if(toStartOfHour(m0) = m0, m0, toStartOfHour(m0) + INTERVAL 1 HOUR) AS h0,
    toStartOfHour(t1 - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS h1,
    indexOf(straggler_deviations, {deviation:Float64}) AS stored_at,
    -- @include straggler_window
    -- @include straggler_racks
,
partials AS
(
    -- per GPU, as part straggler_partials computes for the writer, for the one deviation asked
    SELECT cluster, rack, any(g.2) AS node, any(g.3) AS gpu_index, g.1 AS uuid,
        count() AS busy_minutes, countIf(g.4 < (1 - {deviation:Float64}) * rack_clock_mhz) AS slow_minutes,
        count(g.4) AS clock_minutes, ifNull(sum(g.4), 0) AS clock_mhz_sum,
        count(rack_clock_mhz) AS rack_clock_minutes, ifNull(sum(rack_clock_mhz), 0) AS rack_clock_mhz_sum,
        ifNull(sum(g.5), 0) AS util_pct_sum, ifNull(sum(rack_util_pct), 0) AS rack_util_pct_sum
    FROM racks ARRAY JOIN gpus AS g
    GROUP BY cluster, rack, uuid
),
gpu_partials AS
(
    SELECT rack, node, gpu_index, uuid, busy_minutes AS busy, slow_minutes AS slow, clock_minutes, clock_mhz_sum,
           rack_clock_minutes, rack_clock_mhz_sum, util_pct_sum, rack_util_pct_sum
    FROM partials
    -- @include straggler_stored_rows
)
SELECT
    any(rack) AS rack, any(node) AS node, any(gpu_index) AS gpu_index, uuid,
    sum(slow) AS slow_minutes,
    sum(busy) AS busy_minutes,
    round(sum(clock_mhz_sum) / sum(clock_minutes)) AS avg_sm_clock_mhz,
    round(sum(rack_clock_mhz_sum) / sum(rack_clock_minutes)) AS rack_median_sm_clock_mhz,
    round(sum(util_pct_sum) / busy_minutes, 1) AS avg_util_pct,
    round(sum(rack_util_pct_sum) / busy_minutes, 1) AS rack_median_util_pct
FROM gpu_partials
GROUP BY uuid
HAVING slow_minutes >= {min_minutes:UInt32}
ORDER BY slow_minutes DESC, avg_sm_clock_mhz, node, gpu_index
