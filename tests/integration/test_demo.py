"""The embedded pipeline end to end: synthetic fleet → agent → memory transport → ingest
→ chDB, checked by SQL against the fleet's own record of what it injected."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from collectors.synthetic.fleet import InjectedFault, SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import SyntheticScheduler
from gpufleet.app.demo import DemoOptions, run_demo
from storage.clickhouse import ClickHouseStore

GPUS, TICKS = 512, 40


def expected_rows(truth: list[InjectedFault], start_ms: int) -> int:
    """GPUs × ticks, less the ticks after each GPU was lost or its node went down."""
    silent: dict[int, int] = {}
    for f in truth:
        if f.kind in ("gpu_lost", "node_down") or (f.kind == "xid" and f.xid == 79):
            tick = (f.start_ms - start_ms) // 1000
            for gpu in f.gpus:
                silent[gpu] = min(silent.get(gpu, TICKS), tick)
    return GPUS * TICKS - sum(TICKS - t for t in silent.values())


def test_demo_stores_every_row_once_and_every_fault(store_dsn: str, tmp_path: Path) -> None:
    # The fleet's clock is pinned to the latest past noon (UTC): the synthetic coolant supply drifts
    # with the time of day, and a 40-tick cooling failure must not depend on when the suite runs.
    day_ms, now_ms = 86_400_000, int(time.time() * 1000)
    noon_ms = now_ms // day_ms * day_ms + day_ms // 2
    noon_ms -= day_ms if noon_ms > now_ms - TICKS * 1000 else 0
    opts = DemoOptions(
        gpus=GPUS, duration_s=TICKS, interval_s=1.0, speed=0, seed=7, scenario="default", data_dir=tmp_path, start_ms=noon_ms
    )
    result = run_demo(opts, store_dsn=store_dsn)
    # The same fleet again, outside the pipeline, tells what was injected.
    fleet = SyntheticFleet(GPUS, 7, load_scenario("default"), result.start_ms, 1.0, TICKS)
    scheduler = SyntheticScheduler(fleet, 7)  # the demo's scheduler places the jobs, and so where the faults land
    peak_mw = 0.0
    for _ in range(TICKS):
        scheduler.tick(fleet.now_ms)
        frame, events = fleet.tick()
        for event in events:
            scheduler.observe(event)
        peak_mw = max(peak_mw, float(frame.metrics["power_mw"].sum(dtype=np.float64)) / 1e9)
    truth = fleet.truth
    store = ClickHouseStore.open(store_dsn)

    rows, distinct = store.query("SELECT count(), uniqExact(uuid, ts) FROM gpu_samples").rows[0]
    assert rows == distinct == expected_rows(truth, result.start_ms) == result.ingest.rows
    assert result.summary["totals"]["ticks"] == TICKS

    uuid_of = fleet.topology.labels["uuid"].values
    for f in truth:
        uuids = [uuid_of[g] for g in f.gpus]
        if f.kind == "cooling_failure":
            hot = store.query(
                "SELECT uuid FROM gpu_samples GROUP BY uuid HAVING bitAnd(groupBitOr(clocks_event_reasons), 0x60) != 0"
            ).rows
            assert {r[0] for r in hot} <= set(uuids) and hot
        elif f.kind == "ecc_dbe":
            got = store.query(
                "SELECT max(ecc_uncorrected_count), argMax(remap_pending, ts) FROM gpu_samples WHERE uuid = {u:String}",
                {"u": uuids[0]},
            ).rows[0]
            assert got == (1, True)
        elif f.kind in ("gpu_lost", "node_down"):
            last = store.query(
                "SELECT max(toUnixTimestamp64Milli(ts)) FROM gpu_samples WHERE uuid IN {u:Array(String)}", {"u": uuids}
            ).rows[0][0]
            assert last == f.start_ms - 1000
        elif f.kind == "power_brake":
            braked = store.query("SELECT uniqExact(uuid) FROM gpu_samples WHERE bitAnd(clocks_event_reasons, 0x80) != 0").rows[0][
                0
            ]
            assert braked == len(uuids)
        elif f.kind == "straggler":
            clocks = store.query(
                "SELECT uuid = {u:String} AS me, median(sm_clock_mhz) FROM gpu_samples"
                " WHERE node = (SELECT any(node) FROM gpu_samples WHERE uuid = {u:String}) GROUP BY me ORDER BY me",
                {"u": uuids[0]},
            ).rows
            assert clocks[1][1] < 0.85 * clocks[0][1]
    xids = {r[0] for r in store.query("SELECT xid FROM gpu_events WHERE kind = 'xid'").rows}
    assert {48, 79} <= xids
    faulty_nodes = {r[1] for r in result.summary["faulty"].rows}
    injected_nodes = {
        fleet.topology.labels["node"].values[fleet.topology.labels["node"].codes[f.gpus[0]]]
        for f in truth
        if f.kind in ("ecc_dbe", "gpu_lost", "node_down", "power_brake")
    }
    assert injected_nodes <= faulty_nodes
    assert math.isclose(result.summary["power"]["peak_megawatts"], peak_mw, rel_tol=1e-6)  # every second stored
    assert GPUS * 0.3 / 1000 < peak_mw < GPUS * 0.75 / 1000  # a mostly busy fleet of 700 W GPUs
    # what the GPUs did: activity means, the stalled GPU, the GPUs whose driver asks for recovery
    activity = result.summary["activity"]
    assert 0 < activity["tensor_active_pct"] < activity["sm_active_pct"] <= 100
    [stall] = [f for f in truth if f.kind == "stall"]
    assert [r[3] for r in result.summary["stalled"].rows] == [uuid_of[stall.gpus[0]]]
    recovery = {(uuid_of[f.gpus[0]], 4) for f in truth if f.kind == "ecc_dbe" or (f.kind, f.xid) == ("xid", 48)}
    recovery |= {(uuid_of[f.gpus[0]], 2) for f in truth if f.kind == "gpu_lost" or (f.kind, f.xid) == ("xid", 79)}
    assert {(r[3], r[4]) for r in result.summary["recovering"].rows} == recovery
    # processes: every 5 ticks, one row per GPU of a job that still reports
    published = store.query("SELECT uniqExact(ts), uniqExact(uuid) FROM gpu_processes").rows[0]
    assert published[0] == TICKS // 5 and 0 < published[1] <= GPUS


def test_healthy_demo_reports_no_faults(store_dsn: str, tmp_path: Path) -> None:
    opts = DemoOptions(gpus=256, duration_s=20, speed=0, seed=1, scenario="none", data_dir=tmp_path)
    result = run_demo(opts, store_dsn=store_dsn)
    assert result.ingest.rows == 256 * 20
    assert result.summary["faulty"].rows == [] and result.summary["xids"].rows == []
    assert result.summary["stalled"].rows == [] and result.summary["recovering"].rows == []
    assert result.start_ms <= int(time.time() * 1000)
