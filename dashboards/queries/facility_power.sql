-- Rack PDU power next to the power the rack's GPUs report, in kW, per selected rack and
-- interval (facility minute rollup beside the per-second rack power rollup, both over the same
-- whole minutes). The gap is the hosts (CPUs, NICs, fans, PSU losses) plus anything unreported.
SELECT f.time AS time, f.rack AS rack, f.pdu_kw AS pdu_kw, g.gpu_kw AS gpu_kw
FROM
(
    SELECT $__timeInterval(minute) AS time, site, hall, rack, sum(value_sum) / sum(value_count) / 1000 AS pdu_kw
    FROM facility_minute
    WHERE $__timeFilter(minute) AND sensor = 'pdu_power_w' AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY time, site, hall, rack
) AS f
LEFT JOIN
(
    SELECT $__timeInterval(toStartOfMinute(ts)) AS time, cluster, hall, rack, sum(power_mw) / 1e6 / uniqExact(ts) AS gpu_kw
    FROM power_rack_1s
    WHERE $__timeFilter(toStartOfMinute(ts)) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY time, cluster, hall, rack
) AS g ON g.time = f.time AND g.cluster = f.site AND g.hall = f.hall AND g.rack = f.rack
ORDER BY time
SETTINGS join_use_nulls = 1
