-- The newest dead letters with their reason.
SELECT ts AS time, source, node, reason, substring(payload, 1, 200) AS payload_start
FROM dead_letters
WHERE $__timeFilter(ts)
ORDER BY time DESC
LIMIT 100
