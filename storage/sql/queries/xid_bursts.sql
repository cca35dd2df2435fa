-- XID bursts in the window (view gpu_xid_bursts: a GPU's XIDs form one burst until more than
-- 3 minutes pass without one, as NVIDIA Fleet Intelligence groups them): first and last time,
-- how many XIDs, which codes, whether any is fatal, the catalog's actions; fatal bursts
-- first, then newest first, at most `limit` rows.
-- Params: from_ms, to_ms (epoch ms), limit.
-- Defaults: from_ms=now-24h, to_ms=now, limit=200
SELECT first_ts, last_ts, hall, rack, node, if(gpu_index = 255, NULL, gpu_index) AS gpu_index, uuid, events,
       xids, fatal_xids, fatal, actions
FROM gpu_xid_bursts
WHERE last_ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND first_ts <= fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
ORDER BY fatal DESC, first_ts DESC, node, gpu_index
LIMIT {limit:UInt32}
