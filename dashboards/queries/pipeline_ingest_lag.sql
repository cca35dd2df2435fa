-- Ingest lag: how long samples took from the GPU to ClickHouse (inserted_at - ts), median,
-- 99th percentile and worst per interval. Read from raw rows of GPU 0 of each node, which
-- travel in the same node message as the other seven.
SELECT $__timeInterval(ts) AS time,
       quantile(0.5)(lag_s) AS p50_s, quantile(0.99)(lag_s) AS p99_s, max(lag_s) AS max_s
FROM (
    SELECT ts, dateDiff('millisecond', ts, inserted_at) / 1000 AS lag_s
    FROM gpu_samples WHERE $__timeFilter(ts) AND gpu_index = 0 AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
)
GROUP BY time
ORDER BY time
