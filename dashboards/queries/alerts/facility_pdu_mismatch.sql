-- |PDU power - power the rack's GPUs report - host overhead| per rack, in kW, means over the
-- window (host overhead: 150 W per reporting GPU by default; GPU power from the
-- per-second rack rollup). The PDU sees every watt: power no GPU accounts for is a collector
-- that went silent while its node still runs, a GPU the collector lost, or a metering fault.
-- A rack with no GPU data at all counts as 0 kW of GPUs. The newest 2 s are left out, as
-- collectors are still delivering them.
SELECT p.site AS cluster, p.hall AS hall, p.rack AS rack,
       round(abs(p.pdu_kw - ifNull(g.gpu_kw, 0) - {{host_overhead_w_per_gpu}} / 1000 * ifNull(g.gpus, 0)), 2) AS value
FROM
(
    SELECT site, hall, rack, avg(r.value) / 1000 AS pdu_kw
    FROM facility_readings AS r
    WHERE $__timeFilter(ts) AND ts < $__toTime - INTERVAL 2 SECOND AND sensor = 'pdu_power_w'
    GROUP BY site, hall, rack
) AS p
LEFT JOIN
(
    SELECT cluster, hall, rack, sum(power_mw) / 1e6 / uniqExact(ts) AS gpu_kw, sum(gpus) / uniqExact(ts) AS gpus
    FROM power_rack_1s
    WHERE $__timeFilter(ts) AND ts < $__toTime - INTERVAL 2 SECOND
    GROUP BY cluster, hall, rack
) AS g ON g.cluster = p.site AND g.hall = p.hall AND g.rack = p.rack
WHERE value > {{pdu_mismatch_kw}}
SETTINGS join_use_nulls = 1
