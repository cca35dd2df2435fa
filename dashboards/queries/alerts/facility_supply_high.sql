-- Mean CDU supply temperature into each rack over the window, in °C (raw facility readings: a
-- few minutes of one sensor per rack). Coolant arriving warm means the CDU lost its cooling or
-- its flow; the rack's GPUs follow within minutes. `cluster` is the readings' site.
SELECT site AS cluster, hall, rack, round(avg(r.value), 2) AS value
FROM facility_readings AS r
WHERE $__timeFilter(ts) AND sensor = 'cdu_supply_temp_c'
GROUP BY cluster, hall, rack
HAVING value >= {{coolant_supply_high_c}}
