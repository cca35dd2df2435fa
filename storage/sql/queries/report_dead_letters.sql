-- Dead letters stored in the window, grouped by source and reason: how many, first and last
-- seen, most first. Messages ingest could not decode or validate, kept with the reason.
-- Params: from_ms, to_ms (epoch ms), limit.
-- Defaults: from_ms=now-24h, to_ms=now, limit=20
SELECT source, reason, count() AS letters, min(ts) AS first_seen, max(ts) AS last_seen
FROM dead_letters
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY source, reason
ORDER BY letters DESC, source, reason
LIMIT {limit:UInt32}
