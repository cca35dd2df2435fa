-- GPUs in a reporting node's inventory that sent nothing in the last node_stale_s seconds
-- (relative to the cluster's newest sample). Silent nodes are left to collector_silent.
SELECT e.cluster AS cluster, e.node AS node, toInt64(e.expected) - toInt64(r.reporting) AS value
FROM
(
    SELECT cluster, node, uniqExact(uuid) AS expected FROM gpu_inventory WHERE ts <= $__toTime GROUP BY cluster, node
) AS e
INNER JOIN
(
    SELECT cluster, node, countIf(last_ts >= newest - toIntervalSecond({{node_stale_s}})) AS reporting
    FROM
    (
        SELECT cluster, node, uuid, max(ts) AS last_ts, max(max(ts)) OVER (PARTITION BY cluster) AS newest
        FROM gpu_samples
        WHERE $__timeFilter(ts)
        GROUP BY cluster, node, uuid
    )
    GROUP BY cluster, node
) AS r ON e.cluster = r.cluster AND e.node = r.node
WHERE r.reporting > 0 AND value > 0
