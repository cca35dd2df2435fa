-- Seconds each node's newest sample lags its cluster's newest, for nodes in the inventory or
-- seen in the window; a node with no sample in the window counts from the window's start.
-- Relative to the cluster, so a stalled pipeline raises one ingest-lag alert, not one per node.
-- Newest samples from the latest-state table (part newest_samples), not from raw rows.
WITH newest AS
(
    -- @include newest_samples
)
SELECT n.cluster AS cluster, n.node AS node,
       dateDiff('second', ifNull(s.last_seen, toDateTime64($__fromTime, 3, 'UTC')), c.newest) AS value
FROM
(
    SELECT DISTINCT cluster, node FROM gpu_inventory WHERE ts <= $__toTime
    UNION DISTINCT
    SELECT DISTINCT cluster, node FROM newest
) AS n
LEFT JOIN (SELECT cluster, node, max(last_ts) AS last_seen FROM newest GROUP BY cluster, node) AS s
    ON n.cluster = s.cluster AND n.node = s.node
INNER JOIN (SELECT cluster, max(last_ts) AS newest FROM newest GROUP BY cluster) AS c
    ON n.cluster = c.cluster
WHERE value > {{node_stale_s}}
SETTINGS join_use_nulls = 1
