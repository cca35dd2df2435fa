-- Mean rack PDU power over the window as a percentage of the rack's power limit (one limit
-- for every rack, 80 kW by default): a rack this close to what its PDUs and breakers deliver trips on
-- the next synchronized power step of its jobs.
SELECT site AS cluster, hall, rack, round(100 * avg(r.value) / 1000 / {{rack_pdu_limit_kw}}, 1) AS value
FROM facility_readings AS r
WHERE $__timeFilter(ts) AND sensor = 'pdu_power_w'
GROUP BY cluster, hall, rack
HAVING value >= {{rack_pdu_warn_pct}}
