-- Per GPU (cluster, node, gpu_index, uuid), its newest sample time in the window, `last_ts`,
-- without scanning raw rows: gpu_latest_state holds each GPU's newest sample (one row per
-- insert until merged, so max(ts) over its rows). When that newest is inside the window
-- (Grafana evaluates at now: always) it is the answer. When it is later than the window's end
-- (an evaluation of the past, `gpufleet alerts check --at`), only those GPUs are read from raw
-- rows: the IN set on gpu_samples' sort key prunes every other GPU, and at now the set is
-- empty and nothing raw is read. Included inside FROM ( ).
SELECT cluster, node, gpu_index, argMax(uuid, last) AS uuid, max(last) AS last_ts
FROM
(
    SELECT cluster, node, gpu_index, uuid, ts AS last
    FROM gpu_latest_state
    WHERE $__timeFilter(ts)
    UNION ALL
    SELECT cluster, node, gpu_index, any(uuid) AS uuid, max(ts) AS last
    FROM gpu_samples
    WHERE $__timeFilter(ts)
      AND (cluster, node, gpu_index) IN (SELECT cluster, node, gpu_index FROM gpu_latest_state WHERE ts > $__toTime)
    GROUP BY cluster, node, gpu_index
)
GROUP BY cluster, node, gpu_index
