-- Fatal XID events per GPU and code in the window; the codes come from the XID catalog's
-- `fatal` column (gpufleet/data/xid_catalog.csv).
SELECT cluster, node, ifNull(toString(gpu_index), '') AS gpu, toString(xid) AS xid, count() AS value
FROM gpu_events
WHERE $__timeFilter(ts) AND kind = 'xid' AND xid IN ({{fatal_xids}})
GROUP BY cluster, node, gpu, xid
