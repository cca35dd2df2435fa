-- Rack PDU power next to the power the rack's GPUs report, in kW, per selected rack and
-- interval (facility minute rollup beside the per-second rack power rollup, both over the same
-- whole minutes). The gap is the hosts (CPUs, NICs, fans, PSU losses) plus anything unreported.
SELECT f.time AS time, f.rack AS rack, f.pdu_kw AS pdu_kw, g.gpu_kw AS gpu_kw
-- @include rack_pdu_and_gpu_kw
