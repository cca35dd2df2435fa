-- Seconds each node's newest sample lags its cluster's newest, for nodes in the inventory or
-- seen in the window; a node with no sample in the window counts from the window's start.
-- Relative to the cluster, so a stalled pipeline raises one ingest-lag alert, not one per node.
-- Newest samples from the latest-state table (part newest_samples), read once: inventory
-- nodes join as rows without a time, and the cluster's newest is a window over the nodes.
SELECT cluster, node, dateDiff('second', ifNull(last_seen, toDateTime64($__fromTime, 3, 'UTC')), newest) AS value
FROM
(
    SELECT cluster, node, max(last_ts) AS last_seen, max(max(last_ts)) OVER (PARTITION BY cluster) AS newest
    FROM
    (
        SELECT cluster, node, CAST(last_ts AS Nullable(DateTime64(3, 'UTC'))) AS last_ts
        FROM
        (
            -- @include newest_samples
        )
        UNION ALL
        SELECT DISTINCT cluster, node, CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_ts FROM gpu_inventory WHERE ts <= $__toTime
    )
    GROUP BY cluster, node
)
WHERE newest IS NOT NULL AND value > {{node_stale_s}}
