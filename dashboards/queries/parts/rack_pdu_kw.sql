-- Rack PDU power in kW per interval and selected rack (site, hall, rack), from the facility
-- minute rollup. Included inside FROM ( ) AS f.
SELECT $__timeInterval(minute) AS time, site, hall, rack, sum(value_sum) / sum(value_count) / 1000 AS pdu_kw
FROM facility_minute
WHERE $__timeFilter(minute) AND sensor = 'pdu_power_w' AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY time, site, hall, rack
