-- GPUs in a reporting node's inventory that sent nothing in the last node_stale_s seconds
-- (relative to the cluster's newest sample). Silent nodes are left to collector_silent.
-- Newest samples from the latest-state table (part newest_samples), not from raw rows.
SELECT e.cluster AS cluster, e.node AS node, toInt64(e.expected) - toInt64(r.reporting) AS value
FROM
(
    SELECT cluster, node, uniqExact(uuid) AS expected FROM gpu_inventory WHERE ts <= $__toTime GROUP BY cluster, node
) AS e
INNER JOIN
(
    SELECT cluster, node, countIf(gpu_last_ts >= newest - toIntervalSecond({{node_stale_s}})) AS reporting
    FROM
    (
        SELECT cluster, node, uuid, max(last_ts) AS gpu_last_ts, max(max(last_ts)) OVER (PARTITION BY cluster) AS newest
        FROM
        (
            -- @include newest_samples
        )
        GROUP BY cluster, node, uuid
    )
    GROUP BY cluster, node
) AS r ON e.cluster = r.cluster AND e.node = r.node
WHERE r.reporting > 0 AND value > 0
