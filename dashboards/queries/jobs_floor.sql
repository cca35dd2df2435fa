-- The floor map of the selected jobs: one line per hall and row of the halls they run in, one
-- column per rack position in the row (1 = the row's lowest-numbered rack, as laid out on the
-- floor; racks past the 8th add up in `more`), each cell the GPUs the selected jobs hold
-- in that rack over the range (blank: none). A full rack is 64 GPUs (8 nodes of 8).
WITH
held AS
(
    SELECT m.hall AS hall, m.row AS row, m.rack AS rack, uniqExact(m.node, m.gpu_index) AS gpus
    FROM
    (
        SELECT hall, row, rack, cluster, node, gpu_index, toDateTime64(minute + 30, 3, 'UTC') AS midpoint
        FROM gpu_minute
        WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster)
    ) AS m
    ASOF INNER JOIN gpu_job_intervals AS iv ON m.cluster = iv.cluster AND m.node = iv.node AND m.gpu_index = iv.gpu_index AND m.midpoint >= iv.start_ts
    WHERE (iv.end_ts IS NULL OR m.midpoint < iv.end_ts) AND $__conditionalAll(iv.job_id IN (${job:singlequote}), $job)
    GROUP BY hall, row, rack
)
SELECT f.hall AS hall, f.row AS row, {{cells}}
FROM
(
    SELECT hall, row, rack, dense_rank() OVER (PARTITION BY hall, row ORDER BY rack) AS position
    FROM (SELECT DISTINCT hall, row, rack FROM gpu_minute
          WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster))
) AS f
LEFT JOIN held AS j ON f.hall = j.hall AND f.row = j.row AND f.rack = j.rack
WHERE f.hall IN (SELECT hall FROM held)
GROUP BY hall, row
ORDER BY hall, row
