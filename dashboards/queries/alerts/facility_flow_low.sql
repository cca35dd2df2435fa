-- Mean coolant flow through each rack over the window, in L/min (raw facility readings). A
-- pump, valve or filter fault shows here first; ΔT and supply temperature follow.
SELECT site AS cluster, hall, rack, round(avg(r.value), 1) AS value
FROM facility_readings AS r
WHERE $__timeFilter(ts) AND sensor = 'coolant_flow_lpm'
GROUP BY cluster, hall, rack
HAVING value < {{coolant_flow_low_lpm}}
