-- Nodes reporting versus stale: a node is stale when its newest sample is more than 60 s
-- older than its cluster's newest (so a stalled pipeline does not make every node stale).
SELECT countIf(behind_s <= 60) AS nodes_reporting, countIf(behind_s > 60) AS nodes_stale
FROM (
    SELECT cluster, node, dateDiff('second', max(ts), max(max(ts)) OVER (PARTITION BY cluster)) AS behind_s
    FROM gpu_latest_state FINAL
    WHERE ts <= $__toTime AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
    GROUP BY cluster, node
)
