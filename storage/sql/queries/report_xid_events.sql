-- XID events in the window, one row each: when, where (hall, rack, node, GPU), the code with
-- the catalog's mnemonic, severity, meaning and recommended action; fatal codes first, then
-- newest first, at most `limit` rows (xid_summary counts them all by code).
-- Params: from_ms, to_ms (epoch ms), limit.
-- Defaults: from_ms=now-24h, to_ms=now, limit=200
SELECT ts, hall, rack, node, gpu_index, uuid, xid, mnemonic, severity, fatal, meaning, action
FROM xid_events
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
ORDER BY fatal DESC, ts DESC, node, gpu_index
LIMIT {limit:UInt32}
