"""Storage v1 on the real engine (chDB): migrations, the Native-block writer, dedup."""

from __future__ import annotations

import re
import time

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.columns import METRIC_COLUMNS
from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import ClickHouseStore
from storage.migrations import available, migrate, status


def recent_frame(gpus: int = 64, ticks: int = 5, scenario: str = "default") -> tuple[SyntheticFleet, GpuFrame]:
    start = int(time.time()) * 1000 - ticks * 1000  # inside the raw TTL
    fleet = SyntheticFleet(gpus, 5, load_scenario(scenario), start, 1.0, ticks)
    return fleet, GpuFrame.concat([fleet.tick()[0] for _ in range(ticks)])


def test_migrate_is_idempotent_and_recorded(store: ClickHouseStore) -> None:
    assert migrate(store) == []  # the fixture already migrated
    states = status(store)
    assert [s.version for s in states] == [m.version for m in available()]
    assert all(s.applied and s.checksum_ok for s in states)
    tables = {r[0] for r in store.query("SHOW TABLES").rows}
    assert {"gpu_samples", "gpu_events", "gpu_inventory", "dead_letters", "gpufleet_migrations"} <= tables


def test_samples_round_trip_exactly_with_nulls(store: ClickHouseStore) -> None:
    _, frame = recent_frame()
    frame.nulls["mem_temp_c"] = frame.gpu_index == 2  # as if HBM temperature were unsupported
    frame.nulls["util_gpu_pct"] = frame.gpu_index == 5
    assert store.insert_samples(frame, "rt-1") == len(frame)
    names = [m.name for m in METRIC_COLUMNS]
    result = store.query(f"SELECT node, uuid, gpu_index, toUnixTimestamp64Milli(ts), {', '.join(names)} FROM gpu_samples")
    assert len(result.rows) == len(frame)
    stored = {(r[1], r[3]): r for r in result.rows}
    uuids, nodes = frame.label_list("uuid"), frame.label_list("node")
    for i in range(0, len(frame), 7):
        row = stored[(uuids[i], int(frame.ts_ms[i]))]
        assert row[0] == nodes[i] and row[2] == frame.gpu_index[i]
        for j, name in enumerate(names):
            expected = None if frame.null_mask(name)[i] else frame.metrics[name][i].item()
            assert row[4 + j] == expected, name


def test_same_token_stores_once_other_token_stores_again(store: ClickHouseStore) -> None:
    _, frame = recent_frame(gpus=16, ticks=3)
    store.insert_samples(frame, "batch-a")
    store.insert_samples(frame, "batch-a")  # a retry
    assert store.query("SELECT count() FROM gpu_samples").rows[0][0] == len(frame)
    store.insert_samples(frame, "batch-b")
    assert store.query("SELECT count() FROM gpu_samples").rows[0][0] == 2 * len(frame)


def test_events_and_inventory_land(store: ClickHouseStore) -> None:
    fleet, _ = recent_frame(gpus=512, ticks=60)
    inventory = fleet.inventory()
    store.insert_inventory(inventory, "inv")
    got = store.query("SELECT count(), uniqExact(uuid), countIf(model = 'NVIDIA H200') FROM gpu_inventory").rows[0]
    assert got[0] == got[1] == 512
    events = [e for f in range(3) for e in fleet.tick()[1]]
    store.insert_events(events, "ev")
    assert store.query("SELECT count() FROM gpu_events").rows[0][0] == len(events)


def test_parameters_are_bound_not_pasted(store: ClickHouseStore) -> None:
    hostile = "x'); DROP TABLE gpu_samples; --"
    result = store.query("SELECT count() FROM gpu_samples WHERE node = {node:String}", {"node": hostile})
    assert result.rows == [(0,)]
    assert "gpu_samples" in {r[0] for r in store.query("SHOW TABLES").rows}


def test_empty_frame_is_a_no_op(store: ClickHouseStore) -> None:
    assert store.insert_samples(GpuFrame.empty(), "none") == 0
    assert np.asarray(store.query("SELECT count() FROM gpu_samples").rows).item() == 0


def test_declared_codecs_are_the_ones_in_force(store: ClickHouseStore) -> None:
    actual = dict(
        store.query(
            "SELECT name, compression_codec FROM system.columns WHERE table = 'gpu_samples' AND database = currentDatabase()"
        ).rows
    )
    for metric in METRIC_COLUMNS:
        # the engine spells out codec parameters it chose itself, e.g. Delta(8) for Delta
        in_force = re.sub(r"(Delta|DoubleDelta)\(\d\)", r"\1", actual[metric.name].replace(" ", ""))
        assert in_force == f"CODEC({metric.codec})".replace(" ", ""), metric.name
