-- XID events in the window by code: how many, on how many GPUs, first and last seen.
-- Meaning and action come from the XID catalog (gpufleet/data/xid_catalog.csv).
-- Params: from_ms, to_ms (epoch ms).
SELECT xid, count() AS events, uniqExact(uuid) AS gpus, min(ts) AS first_seen, max(ts) AS last_seen,
       groupUniqArray(node) AS nodes
FROM gpu_events
WHERE kind = 'xid'
  AND ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY xid
ORDER BY events DESC, xid
