-- XID events in the range with their meaning and NVIDIA's recommended action, from the XID
-- catalog (view xid_events); fatal codes first.
SELECT ts AS time, cluster, rack, node, toString(gpu_index) AS gpu, xid, mnemonic, meaning, action, severity, fatal
FROM xid_events
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
ORDER BY fatal DESC, time DESC
LIMIT 200
