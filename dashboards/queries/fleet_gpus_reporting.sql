-- GPUs whose newest sample is at most 60 s older than the end of the range, against the
-- GPUs in the inventory; missing = inventory - reporting. Reads the latest-state table
-- (one row per GPU), not raw samples.
SELECT
    (SELECT countIf(ts >= $__toTime - INTERVAL 60 SECOND AND ts <= $__toTime) FROM gpu_latest_state FINAL WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)) AS reporting,
    (SELECT uniqExact(uuid) FROM gpu_inventory FINAL WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)) AS inventory,
    toInt64(inventory) - toInt64(reporting) AS missing
