-- Fatal XIDs per burst (gpu_xid_bursts: a GPU's XIDs form one burst until more than 3 minutes
-- pass without one): one instance per burst, labelled with the burst's first time, so a GPU
-- repeating XID 48 pages once rather than per event. `xid` lists the burst's fatal codes
-- (the catalog's `fatal` column, gpufleet/data/xid_catalog.csv); value = XIDs in the burst.
SELECT cluster, node, if(gpu_index = 255, '', toString(gpu_index)) AS gpu,
       formatDateTime(first_ts, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS burst,
       arrayStringConcat(arrayMap(x -> toString(x), fatal_xids), ',') AS xid,
       toFloat64(events) AS value
FROM gpu_xid_bursts
WHERE fatal AND $__timeFilter(last_ts)
