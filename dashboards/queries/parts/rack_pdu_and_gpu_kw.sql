-- FROM the rack PDU power in kW (facility minute rollup; site, hall, rack) per interval and
-- selected rack, as f, LEFT JOIN the power the rack's GPUs report in kW (mean over the
-- interval's seconds of the per-second rack rollup, over the same whole minutes) and the GPUs
-- reporting, as g. Included after the SELECT list.
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
