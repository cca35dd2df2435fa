-- The power a rack's GPUs report in kW (mean over the interval's seconds) and the GPUs
-- reporting, per interval and selected rack, from the per-second rack rollup over whole
-- minutes (as rack_pdu_kw). Included inside FROM ( ) AS g.
SELECT $__timeInterval(toStartOfMinute(ts)) AS time, cluster, hall, rack,
       sum(power_mw) / 1e6 / uniqExact(ts) AS gpu_kw, sum(gpus) / uniqExact(ts) AS gpus
FROM power_rack_1s
WHERE $__timeFilter(toStartOfMinute(ts)) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY time, cluster, hall, rack
