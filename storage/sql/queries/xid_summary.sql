-- XID events in the window by code: how many, on how many GPUs, first and last seen, on
-- which nodes, with the catalog's mnemonic, meaning, severity and recommended action
-- (the xid_events view joins gpufleet/data/xid_catalog.csv, loaded by `db migrate`).
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-24h, to_ms=now
SELECT xid, count() AS events, uniqExact(uuid) AS gpus, min(ts) AS first_seen, max(ts) AS last_seen,
       groupUniqArray(node) AS nodes, any(mnemonic) AS mnemonic, any(meaning) AS meaning,
       any(severity) AS severity, any(action) AS action, any(fatal) AS fatal
FROM xid_events
WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY xid
ORDER BY events DESC, xid
