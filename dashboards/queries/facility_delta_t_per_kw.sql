-- Coolant ΔT per kW of rack PDU power, per selected rack and interval (minute rollup): for a
-- given load the water warms more the less of it flows; the "ΔT abnormal" alert fires above
-- its threshold.
SELECT time, rack, delta_t_c / pdu_kw AS delta_t_c_per_kw
FROM
(
    SELECT $__timeInterval(minute) AS time, rack,
           sumIf(value_sum, sensor = 'cdu_return_temp_c') / sumIf(value_count, sensor = 'cdu_return_temp_c')
           - sumIf(value_sum, sensor = 'cdu_supply_temp_c') / sumIf(value_count, sensor = 'cdu_supply_temp_c') AS delta_t_c,
           sumIf(value_sum, sensor = 'pdu_power_w') / sumIf(value_count, sensor = 'pdu_power_w') / 1000 AS pdu_kw
    FROM facility_minute
    WHERE $__timeFilter(minute) AND sensor IN ('cdu_supply_temp_c', 'cdu_return_temp_c', 'pdu_power_w') AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY time, rack
)
WHERE pdu_kw >= {{delta_t_min_load_kw}} AND isFinite(delta_t_c)
ORDER BY time
