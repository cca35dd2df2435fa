-- Power per rack of the selected halls and racks, in kilowatts (mean of per-second totals).
SELECT $__timeInterval(ts) AS time, rack, sum(power_mw) / 1e6 / uniqExact(ts) AS rack_kw
FROM power_rack_1s
WHERE $__timeFilter(ts) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY time, rack
ORDER BY time
