-- Rack PDU power that neither the GPUs' reported power nor the expected host overhead (per
-- reporting GPU) explains, in kW, per selected rack and interval: near 0 when every collector
-- reports and the PDU meters right; a silent node shows as its whole draw. The "PDU power does
-- not match GPU power" alert fires beyond its tolerance either way.
SELECT f.time AS time, f.rack AS rack, f.pdu_kw - ifNull(g.gpu_kw, 0) - {{host_overhead_w_per_gpu}} / 1000 * ifNull(g.gpus, 0) AS unexplained_kw
FROM
(
    SELECT $__timeInterval(minute) AS time, site, hall, rack, sum(value_sum) / sum(value_count) / 1000 AS pdu_kw
    FROM facility_minute
    WHERE $__timeFilter(minute) AND sensor = 'pdu_power_w' AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY time, site, hall, rack
) AS f
LEFT JOIN
(
    SELECT $__timeInterval(toStartOfMinute(ts)) AS time, cluster, hall, rack,
           sum(power_mw) / 1e6 / uniqExact(ts) AS gpu_kw, sum(gpus) / uniqExact(ts) AS gpus
    FROM power_rack_1s
    WHERE $__timeFilter(toStartOfMinute(ts)) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY time, cluster, hall, rack
) AS g ON g.time = f.time AND g.cluster = f.site AND g.hall = f.hall AND g.rack = f.rack
ORDER BY time
SETTINGS join_use_nulls = 1
