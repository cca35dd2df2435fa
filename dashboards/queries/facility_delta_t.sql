-- Coolant ΔT (return - supply) per selected rack: the heat the rack's coolant carries away,
-- per interval (minute rollup). It rises with load and, for the same load, as flow falls.
SELECT $__timeInterval(minute) AS time, rack,
       sumIf(value_sum, sensor = 'cdu_return_temp_c') / sumIf(value_count, sensor = 'cdu_return_temp_c')
       - sumIf(value_sum, sensor = 'cdu_supply_temp_c') / sumIf(value_count, sensor = 'cdu_supply_temp_c') AS delta_t_c
FROM facility_minute
WHERE $__timeFilter(minute) AND sensor IN ('cdu_supply_temp_c', 'cdu_return_temp_c') AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
GROUP BY time, rack
HAVING sumIf(value_count, sensor = 'cdu_return_temp_c') > 0 AND sumIf(value_count, sensor = 'cdu_supply_temp_c') > 0
ORDER BY time
