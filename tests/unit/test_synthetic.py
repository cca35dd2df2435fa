"""The synthetic fleet: deterministic, physically plausible, and every scenario fault
shows in exactly the columns and GPUs it should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from collectors.synthetic.fleet import InjectedFault, SyntheticFleet
from collectors.synthetic.physics import HW_POWER_BRAKE, HW_THERMAL, SW_THERMAL
from collectors.synthetic.scenario import Scenario, load_scenario, parse_scenario
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent

START_MS = 1_795_000_000_000


def run(fleet: SyntheticFleet, ticks: int) -> tuple[GpuFrame, list[GpuEvent]]:
    frames, events = [], []
    for _ in range(ticks):
        frame, evs = fleet.tick()
        frames.append(frame)
        events += evs
    return GpuFrame.concat(frames), events


def make(scenario: Scenario | str = "default", gpus: int = 512, seed: int = 3, run_s: float = 120) -> SyntheticFleet:
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    return SyntheticFleet(gpus, seed, sc, START_MS, 1.0, run_s)


def test_same_seed_same_fleet_and_different_seed_differs() -> None:
    a, ea = run(make(seed=11), 40)
    b, eb = run(make(seed=11), 40)
    c, _ = run(make(seed=12), 40)
    for name in ("power_mw", "gpu_temp_c", "energy_mj", "sm_clock_mhz"):
        assert np.array_equal(a.metrics[name], b.metrics[name])
    assert [e.model_dump() for e in ea] == [e.model_dump() for e in eb]
    assert not np.array_equal(a.metrics["power_mw"][:1000], c.metrics["power_mw"][:1000])


def test_counters_never_decrease() -> None:
    frame, _ = run(make(), 120)
    uuid = frame.labels["uuid"].codes
    order = np.lexsort((frame.ts_ms, uuid))
    same_gpu = uuid[order][1:] == uuid[order][:-1]
    counters = [n for n in frame.metrics if n.endswith(("_count", "_kib", "_errors", "_mj", "_correctable", "_uncorrectable"))]
    assert {"energy_mj", "ecc_uncorrected_count", "pcie_replay_count", "nvlink_tx_kib"} <= set(counters)
    for name in counters:
        values = frame.metrics[name][order].astype(np.int64)
        assert (np.diff(values)[same_gpu] >= 0).all(), name
    energy = frame.metrics["energy_mj"][order].astype(np.int64)
    assert (np.diff(energy)[same_gpu] > 0).all(), "energy must grow while a GPU draws power"


def test_physics_is_in_range() -> None:
    frame, _ = run(make("none", gpus=2048), 60)  # 4 rows: the 4th is H200
    power_w = frame.metrics["power_mw"] / 1000
    busy = frame.metrics["util_gpu_pct"] > 80
    idle = frame.metrics["util_gpu_pct"] == 0
    assert 500 < np.median(power_w[busy]) <= 700
    assert 60 < np.median(power_w[idle]) < 100
    temps = frame.metrics["gpu_temp_c"]
    assert 38 <= np.median(temps[busy]) <= 50, "liquid-cooled GPUs run 41-50 °C under load"
    assert (frame.metrics["mem_temp_c"][busy] > temps[busy]).mean() > 0.95, "HBM runs hotter than the core"
    models = set(frame.metrics["mem_total_mib"].tolist())
    assert models == {81559, 143771}, "H100 and H200 both present"


def test_jobs_swing_power_together() -> None:
    frame, _ = run(make("none", gpus=2048, run_s=600), 300)
    ts, power = frame.ts_ms, frame.metrics["power_mw"].astype(np.int64)
    per_tick = np.array([power[ts == t].sum() for t in np.unique(ts)]) / 1e9
    assert per_tick.max() - per_tick.min() > 0.25 * per_tick.max(), "synchronized phases swing fleet power"


def fault(fleet: SyntheticFleet, kind: str) -> InjectedFault:
    return next(f for f in fleet.truth if f.kind == kind)


def rows_of(frame: GpuFrame, fleet: SyntheticFleet, gpus: tuple[int, ...]) -> np.ndarray:
    uuids = {fleet.topology.labels["uuid"].values[g] for g in gpus}
    codes = [i for i, v in enumerate(frame.labels["uuid"].values) if v in uuids]
    return np.isin(frame.labels["uuid"].codes, codes)


def test_each_default_fault_shows_where_it_should_and_nowhere_else() -> None:
    fleet = make("default", gpus=1024, run_s=300)
    frame, events = run(fleet, 300)
    reasons = frame.metrics["clocks_event_reasons"]

    cooling = rows_of(frame, fleet, fault(fleet, "cooling_failure").gpus)
    thermal = (reasons & (SW_THERMAL | HW_THERMAL)) != 0
    assert thermal[cooling].any() and not thermal[~cooling].any()
    late = frame.ts_ms >= START_MS + 200_000
    assert np.median(frame.metrics["gpu_temp_c"][cooling & late]) > np.median(frame.metrics["gpu_temp_c"][~cooling & late]) + 20

    ecc = fault(fleet, "ecc_dbe")
    ecc_rows = rows_of(frame, fleet, ecc.gpus)
    assert frame.metrics["ecc_uncorrected_count"][ecc_rows].max() >= 1
    assert frame.metrics["remap_pending"][ecc_rows & (frame.ts_ms >= ecc.start_ms)].all()
    assert not frame.metrics["remap_pending"][~ecc_rows].any()
    assert any(e.xid == 48 and e.uuid == fleet.topology.labels["uuid"].values[ecc.gpus[0]] for e in events)

    lost = fault(fleet, "gpu_lost")
    lost_rows = rows_of(frame, fleet, lost.gpus)
    assert frame.ts_ms[lost_rows].max() < lost.start_ms, "a lost GPU stops reporting"
    assert {e.kind for e in events if e.ts_ms == lost.start_ms and e.gpu_index == frame.gpu_index[lost_rows][0]} >= {
        "xid",
        "gpu_lost",
    }

    brake = fault(fleet, "power_brake")
    braked = (reasons & HW_POWER_BRAKE) != 0
    brake_rows = rows_of(frame, fleet, brake.gpus)
    assert brake.end_ms is not None
    window = (frame.ts_ms >= brake.start_ms) & (frame.ts_ms < brake.end_ms)
    assert braked[brake_rows & window].all() and not braked[~(brake_rows & window)].any()
    assert frame.metrics["power_mw"][brake_rows & window].max() <= 200_000

    down = fault(fleet, "node_down")
    down_rows = rows_of(frame, fleet, down.gpus)
    assert frame.ts_ms[down_rows].max() < down.start_ms and down_rows.any()


def test_straggler_runs_slow_and_out_of_phase() -> None:
    fleet = make("default", gpus=1024, run_s=120)
    frame, _ = run(fleet, 120)
    gpu = fault(fleet, "straggler").gpus[0]
    mine = rows_of(frame, fleet, (gpu,))
    peers = rows_of(frame, fleet, tuple(fleet.topology.gpus_of_node(int(fleet.topology.node_of_gpu[gpu])).tolist())) & ~mine
    busy_clock = frame.metrics["sm_clock_mhz"]
    assert np.median(busy_clock[mine]) < 0.85 * np.median(busy_clock[peers])
    util_mine = frame.metrics["util_gpu_pct"][mine].astype(float)
    util_peer = frame.metrics["util_gpu_pct"][peers][::7].astype(float)  # one peer's series
    assert np.corrcoef(util_mine, util_peer)[0, 1] < 0.5


def test_healthy_fleet_has_no_faults() -> None:
    fleet = make("none", gpus=1024)
    frame, events = run(fleet, 120)
    assert not events and not fleet.truth
    assert not (frame.metrics["clocks_event_reasons"] & (SW_THERMAL | HW_THERMAL | HW_POWER_BRAKE)).any()
    assert len(frame) == 1024 * 120


def test_random_xids_follow_the_rate_and_the_catalog() -> None:
    sc = parse_scenario("[random_xids]\nrate_per_gpu_hour = 1.0\n", "test")
    fleet = make(sc, gpus=2048, run_s=600)
    _, events = run(fleet, 600)
    xids = [e.xid for e in events if e.kind == "xid"]
    expected = 2048 * 600 / 3600  # ~341, minus GPUs lost on the way
    assert 0.8 * expected < len(xids) < 1.2 * expected
    assert {79, 48, 119}.issubset(xids)
    assert all(e.detail.startswith(f"XID {e.xid} ") for e in events if e.kind == "xid")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[fault]]\nkind = 'meteor'\nat = 1\n", "kind 'meteor' is not one of"),
        ("[[fault]]\nkind = 'gpu_lost'\n", "missing 'at'"),
        ("[[fault]]\nkind = 'gpu_lost'\nat = '150%'\n", "outside 0%..100%"),
        ("[[fault]]\nkind = 'gpu_lost'\nat = 1\nrack = 3\n", "unknown key(s) ['rack']"),
        ("[[fault]]\nkind = 'xid'\nat = 1\n", "needs an integer 'xid'"),
        ("fault = [", "not valid TOML"),
        ("colour = 'red'\n", "unknown key(s) ['colour']"),
    ],
)
def test_malformed_scenarios_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_scenario(text, "bad.toml")


def test_unknown_scenario_name_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default, none"):
        load_scenario("nonexistent")
    path = tmp_path / "s.toml"
    path.write_text("[[fault]]\nkind = 'xid'\nat = '50%'\nxid = 74\ngpu = 9\n")
    fleet = SyntheticFleet(64, 1, load_scenario(str(path)), START_MS, 1.0, 20)
    _, events = run(fleet, 20)
    assert [(e.xid, e.gpu_index, e.node) for e in events if e.kind == "xid"] == [(74, 1, "node-00001")]
