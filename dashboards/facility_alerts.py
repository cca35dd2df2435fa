"""Facility alert rules: coolant (CDU supply, flow, ΔT for the load) and rack power (PDU near its
limit, PDU power that the GPUs do not account for). One instance per rack, labelled cluster
(the readings' site), hall and rack. They read the raw facility readings over windows of a
few minutes (the sort key keeps each rack's sensor series together) and, for the mismatch,
the per-second rack power rollup. Thresholds: `AlertThresholds.coolant_*`, `delta_t_*`,
`rack_pdu_*`, `host_overhead_w_per_gpu`, `pdu_mismatch_kw`.
"""

from __future__ import annotations

from dashboards.rule import AlertRule

_RACK = "{{ $labels.cluster }}/{{ $labels.hall }}/{{ $labels.rack }}"
_COOLING = "The rack's GPUs reach thermal slowdown minutes after its coolant does: move or checkpoint its jobs if it lasts."

FACILITY_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "gpufleet-facility-supply-high",
        "Coolant supply temperature high",
        "facility-cooling",
        "critical",
        "rack",
        ">=",
        "coolant_supply_high_c",
        180,
        "2m",
        f"{_RACK}: CDU supply at {{{{ $values.A }}}} °C",
        "Check the rack's CDU: facility water valve and temperature, heat exchanger, setpoint, alarms on its panel; "
        f"compare with neighbouring racks (one rack: its CDU; a whole hall: the facility water). {_COOLING}",
    ),
    AlertRule(
        "gpufleet-facility-flow-low",
        "Coolant flow low",
        "facility-cooling",
        "critical",
        "rack",
        "<",
        "coolant_flow_low_lpm",
        180,
        "2m",
        f"{_RACK}: coolant flow {{{{ $values.A }}}} L/min",
        f"Check the CDU's pumps (redundant pair: one failed?), filters and valves, and the rack manifold for leaks. {_COOLING}",
    ),
    AlertRule(
        "gpufleet-facility-delta-t",
        "Coolant ΔT abnormal for the load",
        "facility-cooling",
        "warning",
        "rack",
        ">",
        "delta_t_c_per_kw_max",
        300,
        "5m",
        f"{_RACK}: coolant warms {{{{ $values.A }}}} °C per kW of rack power",
        "Too little water passes the cold plates for the heat they carry. With normal flow readings suspect the flow meter, "
        "air in the loop or a clogged filter or quick-disconnect; check the CDU's differential pressure.",
    ),
    AlertRule(
        "gpufleet-facility-pdu-limit",
        "Rack power near its limit",
        "facility-power",
        "warning",
        "rack",
        ">=",
        "rack_pdu_warn_pct",
        300,
        "5m",
        f"{_RACK}: PDU power at {{{{ $values.A }}}} % of the rack's limit",
        "A synchronized power step of the rack's jobs can trip its breakers. Cap GPU power on the rack's nodes "
        "(`nvidia-smi -pl`) or move a job away; tell the facility team if the limit is lower than the rack was planned for.",
    ),
    AlertRule(
        "gpufleet-facility-pdu-mismatch",
        "PDU power does not match GPU power",
        "facility-power",
        "warning",
        "rack",
        ">",
        "pdu_mismatch_kw",
        120,
        "5m",
        f"{_RACK}: PDU power and GPUs plus host overhead differ by {{{{ $values.A }}}} kW",
        "Power the GPUs do not account for: look for silent collectors or missing GPUs in the rack (collector-silent and "
        "GPUs-missing alerts, Pipeline dashboard). If every node reports, compare the PDU's reading with its outlets or "
        "the BMCs' power: a metering fault.",
    ),
)
