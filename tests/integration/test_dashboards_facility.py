"""The facility dashboard and alert rules against the synthetic fleet with its facility.

The synthetic facility follows the GPUs (collectors/facility/synthetic.py): a cooling failure
drops its rack's flow and raises its supply at once; a node that goes down keeps drawing power
at the PDU while its collector is silent. So the coolant rules must fire for exactly the
cooling-failure rack, the PDU-vs-GPU rule for exactly the rack of the node that went silent
(ground truth: `SyntheticFleet.truth`), and none of them on the healthy racks or fleet. Every
facility panel and rule query also runs through `test_dashboards_queries.py`,
`test_dashboards_alerts.py` and `test_dashboards_structure.py` with the other dashboards.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dashboards.boards import facility
from dashboards.config import AlertThresholds
from dashboards.evaluate import AlertInstance, by_rule, evaluate
from dashboards.facility_alerts import FACILITY_RULES
from dashboards.macros import ALL, TimeRange, expand
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli
from tests.support.dashboards_data import StoredFleet, default_fleet_fixture, healthy_fleet_fixture  # noqa: F401  (session fixtures)

Fleet = tuple[ClickHouseStore, StoredFleet]
AT_SHARE = 0.65  # as in test_dashboards_alerts: the cooling failure and the node down are both under way
ALL_VARS = {name: ALL for name in ("cluster", "hall", "rack")}
BOARD = facility.build()
RackKey = tuple[str, str, str]  # cluster, hall, rack: a rack rule's labels


def racks_of(fleet: StoredFleet, kind: str) -> set[RackKey]:
    """The racks of the GPUs that a fault of `kind` hit."""
    return {
        (fleet.label("cluster", g), fleet.label("hall", g), fleet.label("rack", g)) for f in fleet.truth(kind) for g in f.gpus
    }


def rack_keys(instances: list[AlertInstance]) -> set[RackKey]:
    return {(i.labels["cluster"], i.labels["hall"], i.labels["rack"]) for i in instances}


def readings(fleet: StoredFleet, sensor: str, from_ms: int, to_ms: int) -> dict[str, list[float]]:
    """Every stored reading of `sensor` per rack with ts in [from_ms, to_ms]."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in fleet.facility:
        if r.sensor == sensor and from_ms <= r.ts_ms <= to_ms:
            out[r.rack].append(r.value)
    return out


def panel_rows(store: ClickHouseStore, title: str, time_range: TimeRange, variables: dict[str, Any]) -> list[dict[str, Any]]:
    panel = next(p for p in BOARD["panels"] if p["title"] == title)
    result = store.query(expand(panel["targets"][0]["rawSql"], time_range, variables))
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_facility_rules_fire_on_exactly_the_faulted_racks(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    fired = by_rule(evaluate(store, fleet.at_share(AT_SHARE), rules=FACILITY_RULES))
    cooling, silent = racks_of(fleet, "cooling_failure"), racks_of(fleet, "node_down")
    assert len(cooling) == len(silent) == 1 and cooling != silent
    assert {rule: rack_keys(found) for rule, found in fired.items()} == {
        "gpufleet-facility-supply-high": cooling,
        "gpufleet-facility-flow-low": cooling,
        "gpufleet-facility-delta-t": cooling,
        "gpufleet-facility-pdu-mismatch": silent,
    }
    # the values say what happened: flow at the failed CDU's 30 L/min, supply ~50 °C up, ΔT/kW ~3x nominal
    (flow,) = fired["gpufleet-facility-flow-low"]
    (supply,) = fired["gpufleet-facility-supply-high"]
    (ratio,) = fired["gpufleet-facility-delta-t"]
    assert flow.value == pytest.approx(30, abs=1) and supply.value > 70 and ratio.value > 0.3
    assert all(i.severity == "critical" for i in (flow, supply)) and ratio.severity == "warning"


def test_pdu_mismatch_is_the_power_nothing_reports(default_fleet: Fleet) -> None:
    """The rule's value, recomputed from the stored readings and frames: PDU minus the rack's
    reported GPU power minus 150 W per reporting GPU, means over the window without its newest 2 s."""
    store, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    ((_, _, rack),) = racks_of(fleet, "node_down")
    from_ms, to_ms = at - 120_000, at - 3_000
    pdu_kw = statistics.fmean(readings(fleet, "pdu_power_w", from_ms, to_ms)[rack]) / 1000
    per_second = [
        (float(frame.metrics["power_mw"][in_rack].sum()) / 1e6, int(in_rack.sum()))
        for frame in fleet.frames
        if len(frame) and from_ms <= int(frame.ts_ms[0]) <= to_ms
        for in_rack in [np.asarray(frame.labels["rack"].values)[frame.labels["rack"].codes] == rack]
    ]
    gpu_kw = statistics.fmean(kw for kw, _ in per_second)
    gpus = statistics.fmean(n for _, n in per_second)
    expected = pdu_kw - gpu_kw - AlertThresholds().host_overhead_w_per_gpu / 1000 * gpus
    rule = [r for r in FACILITY_RULES if r.uid == "gpufleet-facility-pdu-mismatch"]
    got = evaluate(store, at, rules=rule)
    assert [i.labels["rack"] for i in got] == [rack]
    assert got[0].value == pytest.approx(expected, abs=0.011) and expected > 3  # 8 silent GPUs and their host
    # before the node went down, the rack's lost GPU alone (~0.5 kW) stays inside the tolerance
    down_ms = min(f.start_ms for f in fleet.truth("node_down"))
    assert evaluate(store, down_ms - 1000, rules=rule) == []


def test_pdu_limit_threshold_decides(default_fleet: Fleet) -> None:
    """No synthetic rack nears 80 kW; with a limit between two racks' mean power the rule fires
    for exactly the racks above it, with their share of the limit as value."""
    store, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    rule = [r for r in FACILITY_RULES if r.uid == "gpufleet-facility-pdu-limit"]
    assert evaluate(store, at, rules=rule) == []
    mean_kw = {rack: statistics.fmean(v) / 1000 for rack, v in readings(fleet, "pdu_power_w", at - 300_000, at).items()}
    ordered = sorted(mean_kw.values())
    low, high = max(itertools.pairwise(ordered), key=lambda pair: pair[1] - pair[0])  # the widest gap between racks
    limit_kw = (low + high) / 2 / 0.9  # warn at 90 % of the limit: halfway between the two racks
    got = evaluate(store, at, AlertThresholds(rack_pdu_limit_kw=limit_kw), rule)
    assert {i.labels["rack"]: i.value for i in got} == {
        rack: pytest.approx(100 * kw / limit_kw, abs=0.051) for rack, kw in mean_kw.items() if kw > limit_kw * 0.9
    }
    assert 0 < len(got) < len(mean_kw)


def test_facility_rules_stay_quiet_on_a_healthy_fleet(healthy_fleet: Fleet) -> None:
    store, fleet = healthy_fleet
    assert len(fleet.facility) == fleet.ticks * 6 * 8  # six sensors on each of the 8 racks, every second
    for share in (0.2, AT_SHARE, 1.0):
        assert evaluate(store, fleet.at_share(share), rules=FACILITY_RULES) == []


def test_facility_now_stats_match_the_readings(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 10_000)
    (now,) = panel_rows(store, "Hottest CDU supply", time_range, ALL_VARS)
    last = {
        s: readings(fleet, s, fleet.end_ms - 60_000, fleet.end_ms)
        for s in ("cdu_supply_temp_c", "coolant_flow_lpm", "pdu_power_w")
    }
    supply = {rack: statistics.fmean(v) for rack, v in last["cdu_supply_temp_c"].items()}
    pdu_kw = {rack: statistics.fmean(v) / 1000 for rack, v in last["pdu_power_w"].items()}
    ((_, _, failed),) = racks_of(fleet, "cooling_failure")
    assert max(supply, key=lambda rack: supply[rack]) == failed
    assert now["hottest_supply_c"] == pytest.approx(supply[failed])
    assert now["lowest_flow_lpm"] == pytest.approx(min(statistics.fmean(v) for v in last["coolant_flow_lpm"].values()))
    assert now["pdu_total_kw"] == pytest.approx(sum(pdu_kw.values()))
    assert now["fullest_rack_pct"] == pytest.approx(100 * max(pdu_kw.values()) / AlertThresholds().rack_pdu_limit_kw)


def test_rack_table_and_a_rack_selection(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 60_000)
    rows = panel_rows(store, "Racks: CDU, PDU and GPUs", time_range, ALL_VARS)
    ((_, _, failed),) = racks_of(fleet, "cooling_failure")
    ((_, _, silent),) = racks_of(fleet, "node_down")
    assert len(rows) == 8 and rows[0]["rack"] == failed  # sorted by peak supply: the failed CDU first
    assert rows[0]["flow_min_lpm"] < 35 and rows[0]["peak_gpu_c"] >= 85
    unexplained = {r["rack"]: r["unexplained_kw"] for r in rows}
    assert unexplained.pop(silent) > 1 and all(abs(v) < 0.3 for v in unexplained.values())
    # PDU = GPUs + host overhead on a rack where everything reports
    healthy = next(r for r in rows if r["rack"] not in (failed, silent))
    assert healthy["pdu_kw"] == pytest.approx(healthy["gpu_kw"] + 64 * 0.15, abs=0.2)
    chosen = {**ALL_VARS, "rack": [failed]}
    for title in (
        "CDU supply temperature",
        "Coolant flow",
        "PDU power vs GPU power",
        "Power not explained by GPUs and host overhead",
    ):
        series = panel_rows(store, title, time_range, chosen)
        assert series and {r["rack"] for r in series} == {failed}, title
    # from a minute before the run: the first minute bucket ends before the failure at 10 % (60 s) of the run
    flows = [
        r["flow_lpm"] for r in panel_rows(store, "Coolant flow", TimeRange(fleet.start_ms - 60_000, fleet.end_ms, 60_000), chosen)
    ]
    assert flows[0] > 85 and max(flows[2:]) < 35  # the CDU lost its flow during the run


def test_rack_power_limit_reaches_the_exported_rule(tmp_path: Path) -> None:
    proc = run_cli("grafana", "export", "--out", str(tmp_path), "--rack-pdu-limit-kw", "40")
    assert proc.returncode == 0, proc.stderr
    rules = yaml.safe_load((tmp_path / "provisioning/alerting/gpufleet-rules.yaml").read_text("utf-8"))
    limit = next(r for g in rules["groups"] for r in g["rules"] if r["uid"] == "gpufleet-facility-pdu-limit")
    assert "/ 40.0, 1) AS value" in limit["data"][0]["model"]["rawSql"]
    assert limit["data"][1]["model"]["expression"] == "$A >= 90"
    assert {"severity": "warning", "scope": "rack"}.items() <= limit["labels"].items()


def test_facility_panels_carry_units_and_the_alert_thresholds() -> None:
    panels = {p["title"]: p["fieldConfig"]["defaults"] for p in BOARD["panels"] if "targets" in p}
    units = {title: d["unit"] for title, d in panels.items()}
    assert {units[t] for t in ("CDU supply temperature", "CDU return temperature", "Room inlet temperature")} == {"celsius"}
    assert (units["Coolant flow"], units["Room humidity"], units["PDU power vs GPU power"]) == ("flowlpm", "humidity", "kwatt")
    t = AlertThresholds()
    steps = {title: [s["value"] for s in d["thresholds"]["steps"]] for title, d in panels.items()}
    assert steps["CDU supply temperature"][-1] == t.coolant_supply_high_c
    assert steps["Coolant flow"] == [None, t.coolant_flow_low_lpm]
    assert steps["PDU power vs GPU power"] == [None, t.rack_pdu_limit_kw * 0.9, t.rack_pdu_limit_kw]
    assert steps["Power not explained by GPUs and host overhead"] == [None, -t.pdu_mismatch_kw, t.pdu_mismatch_kw]
    assert [v["name"] for v in BOARD["templating"]["list"]] == ["cluster", "hall", "rack"]
