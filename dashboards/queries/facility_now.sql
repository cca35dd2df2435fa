-- The facility at the end of the range, from each rack's readings in its last minute: the
-- warmest CDU supply, the lowest coolant flow, the racks' total PDU power and the fullest rack
-- as a percentage of the rack power limit.
SELECT max(supply_c) AS hottest_supply_c, min(flow_lpm) AS lowest_flow_lpm, sum(pdu_kw) AS pdu_total_kw,
       max(100 * pdu_kw / {{rack_pdu_limit_kw}}) AS fullest_rack_pct
FROM
(
    SELECT site, hall, rack,
           avgIfOrNull(r.value, sensor = 'cdu_supply_temp_c') AS supply_c,
           avgIfOrNull(r.value, sensor = 'coolant_flow_lpm') AS flow_lpm,
           avgIfOrNull(r.value, sensor = 'pdu_power_w') / 1000 AS pdu_kw
    FROM facility_readings AS r
    WHERE ts >= $__toTime - INTERVAL 60 SECOND AND ts <= $__toTime AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY site, hall, rack
)
