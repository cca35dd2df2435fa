-- The pipeline's own health over the window, from rollups and small tables only (never a
-- scan of raw rows): GPU rows stored (sum of the minute rollup's sample counts, so the
-- window is widened to whole minutes), distinct GPUs and nodes, the newest stored second at
-- or before the window's end and how far it lags that end (freshness), events, facility
-- readings and dead letters stored in the window.
-- Whole hours inside the window are read from gpu_hour, the partial hours at its ends from
-- gpu_minute (see report_rack_floor).
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT
    g.gpu_rows AS gpu_rows, g.gpus AS gpus, g.nodes AS nodes,
    p.newest AS newest_sample,
    dateDiff('second', p.newest, toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')) AS freshness_s,
    (SELECT count() FROM gpu_events WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS events,
    (SELECT sum(value_count) FROM facility_minute
        WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC'))
                         AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')) AS facility_readings,
    (SELECT count() FROM dead_letters WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS dead_letters
FROM
(
    SELECT sum(samples) AS gpu_rows, uniqExact(cluster, node, gpu_index) AS gpus, uniqExact(cluster, node) AS nodes
    FROM
    (
        -- @include gpu_rollup_window(cluster, node, gpu_index, samples)
    )
) AS g
CROSS JOIN
(
    SELECT max(ts) AS newest
    FROM power_fleet_1s
    WHERE ts BETWEEN toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC') AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
) AS p
