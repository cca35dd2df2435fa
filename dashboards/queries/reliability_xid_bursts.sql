-- XID bursts in the range (view gpu_xid_bursts: a GPU's XIDs are one burst until more than
-- 3 minutes pass without one), fatal ones first, with the catalog's actions.
SELECT first_ts AS time, last_ts, cluster, rack, node, if(gpu_index = 255, '', toString(gpu_index)) AS gpu, events,
       arrayStringConcat(arrayMap(x -> toString(x), xids), ',') AS xids, fatal,
       arrayStringConcat(actions, ', ') AS actions
FROM gpu_xid_bursts
WHERE $__timeFilter(last_ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)
ORDER BY fatal DESC, time DESC
LIMIT 200
