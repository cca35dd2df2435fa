"""Facility alert rules: coolant (CDU supply, flow, ΔT for the load) and rack power (PDU near its
limit, PDU power that the GPUs do not account for). One instance per rack, labelled cluster
(the readings' site), hall and rack. They read the raw facility readings over windows of a
few minutes (the sort key keeps each rack's sensor series together) and, for the mismatch,
the per-second rack power rollup. Thresholds: `AlertThresholds.coolant_*`, `delta_t_*`,
`rack_pdu_*`, `host_overhead_w_per_gpu`, `pdu_mismatch_kw`.
"""

from __future__ import annotations

from dashboards.rule import load_rules

FACILITY_RULES = load_rules("facility_rules.toml")
