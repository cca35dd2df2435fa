"""Each alert rule fires for exactly the GPUs, nodes or clusters the scenario faulted, and for
none of the healthy ones; on scenario `none` nothing fires at all.

Ground truth is the fleet's own record (`SyntheticFleet.truth`); for threshold rules on
temperatures it is the simulated values themselves (frames), read around the window so that
minute-bucket edges cannot decide the outcome.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from dashboards.alerts import RULES
from dashboards.config import AlertThresholds
from dashboards.evaluate import AlertInstance, by_rule, evaluate
from gpufleet.contract.xids import fatal_xids
from storage.base import DeadLetter
from storage.clickhouse import ClickHouseStore
from tests.support.dashboards_data import StoredFleet, default_fleet_fixture, healthy_fleet_fixture  # noqa: F401  (session fixtures)

Fleet = tuple[ClickHouseStore, StoredFleet]
AT_SHARE = 0.65  # every default fault is active then (power brake runs 40 %-70 % of the run)
GpuKey = tuple[str, str]


def gpu_keys(instances: list[AlertInstance]) -> set[GpuKey]:
    return {(i.labels["node"], i.labels["gpu"]) for i in instances}


def faulted(fleet: StoredFleet, at_ms: int, window_s: int, match: Callable[[str, int | None], bool]) -> set[GpuKey]:
    """GPUs of the faults that `match` (kind, xid) and started within the window."""
    return {
        fleet.gpu_key(g)
        for f in fleet.fleet.truth
        if match(f.kind, f.xid) and at_ms - window_s * 1000 <= f.start_ms <= at_ms
        for g in f.gpus
    }


def xid_code(kind: str, xid: int | None) -> int | None:
    """The XID a fault raises: ecc_dbe is XID 48, gpu_lost XID 79, an `xid` fault its code."""
    return {"ecc_dbe": 48, "gpu_lost": 79}.get(kind, xid if kind == "xid" else None)


def xid_is(*codes: int) -> Callable[[str, int | None], bool]:
    return lambda kind, xid: xid_code(kind, xid) in codes


@pytest.fixture(scope="module")
def fired(default_fleet: Fleet) -> dict[str, list[AlertInstance]]:
    store, fleet = default_fleet
    return by_rule(evaluate(store, fleet.at_share(AT_SHARE)))


def test_gpu_faults_fire_on_exactly_the_faulted_gpus(default_fleet: Fleet, fired: dict[str, list[AlertInstance]]) -> None:
    _, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    expected = {
        "gpufleet-ecc-uncorrectable": faulted(fleet, at, 3600, xid_is(48, 94, 95, 140)),
        "gpufleet-row-remap-pending": faulted(fleet, at, 10**6, xid_is(48)),
        "gpufleet-row-remap-failure": faulted(fleet, at, 10**6, xid_is(64)),
        "gpufleet-gpu-lost": faulted(fleet, at, 3600, xid_is(79)),
        "gpufleet-fatal-xid": faulted(fleet, at, 3600, xid_is(*fatal_xids())),
        "gpufleet-straggler": faulted(fleet, at, 10**6, lambda kind, _: kind == "straggler"),
        "gpufleet-power-brake": faulted(fleet, at, 10**6, lambda kind, _: kind == "power_brake"),
        "gpufleet-gpu-stalled": faulted(fleet, at, 10**6, lambda kind, _: kind == "stall"),
        "gpufleet-gpu-needs-recovery": faulted(fleet, at, 3600, xid_is(48, 79)),  # DRAIN_AND_RESET, NODE_REBOOT
    }
    for rule, gpus in expected.items():
        assert gpus, f"the scenario should exercise {rule}"
        assert gpu_keys(fired.get(rule, [])) == gpus, rule
    # one instance per burst of each GPU (a burst ends after > 3 min without an XID), naming
    # the burst's fatal codes: exactly the bursts the injected XIDs make
    fatal = set(fatal_xids())
    xids = sorted(
        (f.start_ms, g, code) for f in fleet.fleet.truth for g in f.gpus if (code := xid_code(f.kind, f.xid)) is not None
    )
    bursts: dict[int, list[tuple[int, int, set[int]]]] = {}  # gpu -> [(first, last, fatal codes)]
    for ts, gpu, code in xids:
        runs = bursts.setdefault(gpu, [])
        if runs and ts - runs[-1][1] <= 180_000:
            runs[-1] = (runs[-1][0], ts, runs[-1][2] | ({code} & fatal))
        else:
            runs.append((ts, ts, {code} & fatal))
    expected_bursts = {
        (*fleet.gpu_key(gpu), first, ",".join(map(str, sorted(codes))))
        for gpu, runs in bursts.items()
        for first, last, codes in runs
        if codes and at - 3600_000 <= last and first <= at
    }
    got = {(i.labels["node"], i.labels["gpu"], i.labels["burst"], i.labels["xid"]) for i in fired["gpufleet-fatal-xid"]}
    as_labels = {(n, g, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first // 1000)), x) for n, g, first, x in expected_bursts}
    assert got == as_labels
    recovery = {i.labels["recovery_action"] for i in fired["gpufleet-gpu-needs-recovery"]}
    assert recovery == {"DRAIN_AND_RESET", "NODE_REBOOT"}
    assert all(i.labels["step"].startswith("drain") for i in fired["gpufleet-gpu-needs-recovery"])


def test_node_faults_fire_on_exactly_the_faulted_nodes(default_fleet: Fleet, fired: dict[str, list[AlertInstance]]) -> None:
    _, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    down = {fleet.gpu_key(f.gpus[0])[0] for f in fleet.truth("node_down") if f.start_ms <= at - 60_000}
    lost = {node for node, _ in faulted(fleet, at, 3600, xid_is(79))} - down
    assert down and lost
    assert {i.labels["node"] for i in fired["gpufleet-collector-silent"]} == down
    missing = {i.labels["node"]: i.value for i in fired["gpufleet-gpus-missing"]}
    assert set(missing) == lost and all(v >= 1 for v in missing.values())


@pytest.mark.parametrize(
    ("rule", "column", "limit"),
    [
        ("gpufleet-gpu-temp-warning", "gpu_temp_c", 85),
        ("gpufleet-gpu-temp-critical", "gpu_temp_c", 89),  # the synthetic inventory's slowdown threshold
        ("gpufleet-hbm-temp-warning", "mem_temp_c", 85),
        ("gpufleet-hbm-temp-critical", "mem_temp_c", 95),
    ],
)
def test_temperature_rules_follow_the_simulated_temperatures(
    default_fleet: Fleet,
    fired: dict[str, list[AlertInstance]],
    rule: str,
    column: str,
    limit: int,
) -> None:
    _, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    window_ms = next(r for r in RULES if r.uid == rule).window_s * 1000
    surely_inside = fleet.per_gpu(column, at - window_ms + 60_000, at)
    around = fleet.per_gpu(column, at - window_ms - 60_000, at + 60_000)
    must = {k for k, values in surely_inside.items() if max(values) >= limit}
    may = {k for k, values in around.items() if max(values) >= limit}
    rack = {fleet.gpu_key(g) for f in fleet.truth("cooling_failure") for g in f.gpus}
    got = gpu_keys(fired.get(rule, []))
    assert must, f"{rule}: the cooling failure should push some GPUs past {limit} °C"
    assert must <= got <= may <= rack


def test_thermal_throttle_fires_only_in_the_failing_rack(default_fleet: Fleet, fired: dict[str, list[AlertInstance]]) -> None:
    _, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    around = fleet.per_gpu("clocks_event_reasons", at - 360_000, at + 60_000)
    throttled = {k for k, values in around.items() if any(v & 0x60 for v in values)}
    got = gpu_keys(fired["gpufleet-thermal-throttle"])
    assert got and got <= throttled
    assert all(i.value >= AlertThresholds().thermal_throttle_min_pct for i in fired["gpufleet-thermal-throttle"])


def test_every_rule_is_exercised_and_nothing_else_fires(default_fleet: Fleet, fired: dict[str, list[AlertInstance]]) -> None:
    quiet = {"gpufleet-power-swing", "gpufleet-ingest-lag", "gpufleet-dead-letters"}  # tested below with their own triggers
    quiet.add("gpufleet-job-stalled")  # synthetic jobs keep working: test_jobs_dashboards.py stalls one
    quiet.add("gpufleet-facility-pdu-limit")  # no synthetic rack nears 80 kW: test_dashboards_facility.py sets a lower limit
    assert set(fired) == {r.uid for r in RULES} - quiet


def test_power_swing_threshold_decides(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    at = fleet.at_share(AT_SHARE)
    power = fleet.fleet_power_mw()
    seconds = [s for s in sorted(power) if at // 1000 - 300 <= s <= at // 1000 - 2]
    steepest = max(abs(power[b] - power[a]) / (b - a) for a, b in itertools.pairwise(seconds))
    rule = [r for r in RULES if r.uid == "gpufleet-power-swing"]
    low = evaluate(store, at, AlertThresholds(power_ramp_megawatts_per_s=steepest * 0.9), rule)
    assert [(i.labels, round(i.value, 3)) for i in low] == [({"cluster": "colossus"}, round(steepest, 3))]
    assert evaluate(store, at, AlertThresholds(power_ramp_megawatts_per_s=steepest * 1.1), rule) == []


def test_ingest_lag_fires_when_the_newest_sample_gets_old(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    rule = [r for r in RULES if r.uid == "gpufleet-ingest-lag"]
    assert evaluate(store, fleet.end_ms, rules=rule) == []
    late = evaluate(store, fleet.end_ms + 300_000, rules=rule)
    assert [(i.labels, i.value) for i in late] == [({"cluster": "colossus"}, 300.0)]


def test_dead_letters_fire_per_source(store: ClickHouseStore) -> None:
    rule = [r for r in RULES if r.uid == "gpufleet-dead-letters"]
    now_ms = int(store.query("SELECT toUnixTimestamp64Milli(now64(3))").rows[0][0])
    assert evaluate(store, now_ms, rules=rule) == []
    letters = [
        DeadLetter(f"gpufleet.samples.v1/3@{1200 + i}", "schema: missing field 'gpus'", b"{}", "node-00001") for i in range(3)
    ]
    store.insert_dead_letters(letters, "dl-test")
    stored_ms = int(store.query("SELECT toUnixTimestamp64Milli(max(ts)) FROM dead_letters").rows[0][0])
    got = evaluate(store, stored_ms + 1000, rules=rule)
    assert [(i.labels, i.value) for i in got] == [({"source_name": "gpufleet.samples.v1"}, 3.0)]


def test_nothing_fires_on_a_healthy_fleet(healthy_fleet: Fleet) -> None:
    store, fleet = healthy_fleet
    for at in (fleet.at_share(AT_SHARE), fleet.end_ms):
        assert evaluate(store, at) == []
