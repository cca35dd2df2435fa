-- Rack PDU power next to the power the rack's GPUs report, in kW, per selected rack and
-- interval (facility minute rollup beside the per-second rack power rollup, both over the same
-- whole minutes). The gap is the hosts (CPUs, NICs, fans, PSU losses) plus anything unreported.
SELECT f.time AS time, f.rack AS rack, f.pdu_kw AS pdu_kw, g.gpu_kw AS gpu_kw
FROM
(
    -- @include rack_pdu_kw
) AS f
LEFT JOIN
(
    -- @include rack_gpu_kw
) AS g ON g.time = f.time AND g.cluster = f.site AND g.hall = f.hall AND g.rack = f.rack
ORDER BY time
SETTINGS join_use_nulls = 1
