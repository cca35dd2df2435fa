-- Coolant ΔT (return - supply) per kW of rack PDU power, in °C/kW, means over the window:
-- for a given load the water warms more the less of it flows, so a high ratio means too little
-- flow through the cold plates even when the flow meter looks normal (air in the loop, a
-- clogged filter, a stuck valve). Racks below a minimum load are skipped (the ratio is noise).
SELECT cluster, hall, rack, per_kw AS value
FROM
(
    SELECT site AS cluster, hall, rack,
           avgIf(r.value, sensor = 'cdu_return_temp_c') - avgIf(r.value, sensor = 'cdu_supply_temp_c') AS delta_t_c,
           avgIf(r.value, sensor = 'pdu_power_w') / 1000 AS pdu_kw,
           round(delta_t_c / pdu_kw, 3) AS per_kw
    FROM facility_readings AS r
    WHERE $__timeFilter(ts) AND sensor IN ('cdu_supply_temp_c', 'cdu_return_temp_c', 'pdu_power_w')
    GROUP BY cluster, hall, rack
)
WHERE pdu_kw >= {{delta_t_min_load_kw}} AND per_kw > {{delta_t_c_per_kw_max}}
