-- Seconds between the end of the window and each cluster's newest stored sample: the whole
-- pipeline's lag (collectors, Kafka, ingest). A cluster in the inventory with nothing stored
-- in the window counts the whole window. Newest samples from the latest-state table (part
-- newest_samples), not from raw rows.
SELECT i.cluster AS cluster, dateDiff('second', ifNull(s.newest, toDateTime64($__fromTime, 3, 'UTC')), toDateTime64($__toTime, 3, 'UTC')) AS value
FROM (SELECT DISTINCT cluster FROM gpu_inventory WHERE ts <= $__toTime) AS i
LEFT JOIN
(
    SELECT cluster, max(last_ts) AS newest
    FROM
    (
        -- @include newest_samples
    )
    GROUP BY cluster
) AS s ON i.cluster = s.cluster
WHERE value > {{ingest_lag_s}}
SETTINGS join_use_nulls = 1
