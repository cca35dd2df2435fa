-- Rack PDU power that neither the GPUs' reported power nor the expected host overhead (per
-- reporting GPU) explains, in kW, per selected rack and interval: near 0 when every collector
-- reports and the PDU meters right; a silent node shows as its whole draw. The "PDU power does
-- not match GPU power" alert fires beyond its tolerance either way.
SELECT f.time AS time, f.rack AS rack, f.pdu_kw - ifNull(g.gpu_kw, 0) - {{host_overhead_w_per_gpu}} / 1000 * ifNull(g.gpus, 0) AS unexplained_kw
-- @include rack_pdu_and_gpu_kw
