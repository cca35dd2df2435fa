-- One facility sensor per selected rack, the mean of its readings in each interval (minute
-- rollup of the readings).
SELECT $__timeInterval(minute) AS time, rack, sum(value_sum) / sum(value_count) AS {{alias}}
FROM facility_minute
WHERE $__timeFilter(minute) AND sensor = '{{sensor}}' AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY time, rack
ORDER BY time
