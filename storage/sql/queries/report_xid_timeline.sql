-- XID events per step by the catalog's severity (critical, warning, info), from the
-- xid_events view (codes missing from the catalog keep the collector's severity).
-- Params: from_ms, to_ms (epoch ms), step_s (seconds per bar).
-- Defaults: from_ms=now-24h, to_ms=now, step_s=300
SELECT toStartOfInterval(ts, toIntervalSecond({step_s:UInt32})) AS t, severity, count() AS events
FROM xid_events
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY t, severity
ORDER BY t, severity
