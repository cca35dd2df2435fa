-- Per rack over the range: CDU supply (mean and peak), return, ΔT, lowest flow, mean PDU power
-- and its share of the rack limit, the GPUs' mean power, power nothing explains, and the
-- hottest GPU: a rack whose GPUs run hot next to a warm or slow CDU is a facility problem.
SELECT f.site AS cluster, f.hall AS hall, f.rack AS rack,
       round(f.supply_c, 1) AS supply_c, round(f.supply_max_c, 1) AS supply_max_c, round(f.return_c, 1) AS return_c,
       round(f.return_c - f.supply_c, 2) AS delta_t_c, round(f.flow_min_lpm, 1) AS flow_min_lpm,
       round(f.pdu_kw, 2) AS pdu_kw, round(100 * f.pdu_kw / {{rack_pdu_limit_kw}}, 1) AS pdu_pct_of_limit,
       round(g.gpu_kw, 2) AS gpu_kw, round(f.pdu_kw - g.gpu_kw - {{host_overhead_w_per_gpu}} / 1000 * g.gpus, 2) AS unexplained_kw,
       t.peak_gpu_c AS peak_gpu_c
FROM
(
    SELECT site, hall, rack,
           sumIf(value_sum, sensor = 'cdu_supply_temp_c') / sumIf(value_count, sensor = 'cdu_supply_temp_c') AS supply_c,
           maxIf(value_max, sensor = 'cdu_supply_temp_c') AS supply_max_c,
           sumIf(value_sum, sensor = 'cdu_return_temp_c') / sumIf(value_count, sensor = 'cdu_return_temp_c') AS return_c,
           minIf(value_min, sensor = 'coolant_flow_lpm') AS flow_min_lpm,
           sumIf(value_sum, sensor = 'pdu_power_w') / sumIf(value_count, sensor = 'pdu_power_w') / 1000 AS pdu_kw
    FROM facility_minute
    WHERE $__timeFilter(minute) AND $__conditionalAll(site IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY site, hall, rack
) AS f
LEFT JOIN
(
    SELECT cluster, hall, rack, sum(power_mw) / 1e6 / uniqExact(ts) AS gpu_kw, sum(gpus) / uniqExact(ts) AS gpus
    FROM power_rack_1s
    WHERE $__timeFilter(toStartOfMinute(ts)) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY cluster, hall, rack
) AS g ON g.cluster = f.site AND g.hall = f.hall AND g.rack = f.rack
LEFT JOIN
(
    SELECT cluster, hall, rack, max(gpu_temp_c_max) AS peak_gpu_c
    FROM gpu_minute
    WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack)
    GROUP BY cluster, hall, rack
) AS t ON t.cluster = f.site AND t.hall = f.hall AND t.rack = f.rack
ORDER BY supply_max_c DESC, rack
LIMIT 100
SETTINGS join_use_nulls = 1
