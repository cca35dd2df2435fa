"""Shared by the storage v2 tests: a synthetic fleet with the default faults, stored once
per test module in its own database of the session's chDB path."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent
from storage.clickhouse import ClickHouseStore
from storage.migrations import available, migrate

# Batches of 25 ticks cross minute boundaries, so rollup states from several inserts merge.
# Seed 1 places a checkpoint inside the three minutes (jobs checkpoint every 2-10 min).
GPUS, TICKS, BATCH = 512, 180, 25
HOUR_S = 3600


def start_into_hour_ms(span_s: int, phase_s: int = 1200) -> int:
    """The latest start `phase_s` past a clock hour whose `span_s` ends before now, in epoch ms.

    A scenario's faults fall at fixed shares of its run, so where the clock hours fall in it
    decides what a window of whole or partial hours holds; a start at a fixed minute of the
    hour makes that the same on every run (a start at now - span made it depend on the minute
    the suite reached the test)."""
    start_s = int(time.time()) // HOUR_S * HOUR_S + phase_s
    while start_s + span_s > time.time():
        start_s -= HOUR_S
    return start_s * 1000


@dataclass
class Stored:
    store: ClickHouseStore
    fleet: SyntheticFleet
    frames: list[GpuFrame]
    events: list[GpuEvent]
    start_ms: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + (TICKS - 1) * 1000


def make_fleet(gpus: int = GPUS, ticks: int = TICKS, seed: int = 1) -> tuple[SyntheticFleet, list[GpuFrame], list[GpuEvent], int]:
    start_ms = (int(time.time()) - ticks) * 1000  # ends now: inside every TTL, "reporting" in views
    fleet = SyntheticFleet(gpus, seed, load_scenario("default"), start_ms, 1.0, float(ticks))
    frames, events = [], []
    for _ in range(ticks):
        frame, evs = fleet.tick()
        frames.append(frame)
        events += evs
    return fleet, frames, events, start_ms


def insert_all(store: ClickHouseStore, frames: list[GpuFrame], events: list[GpuEvent], tag: str) -> None:
    for i in range(0, len(frames), BATCH):
        store.insert_samples(GpuFrame.concat(frames[i : i + BATCH]), f"{tag}-{i}")
    store.insert_events(events, f"{tag}-events")


def insert_into_old_store(store: ClickHouseStore, frames: list[GpuFrame], events: list[GpuEvent], tag: str) -> None:
    """`insert_all` into a store migrated only part way: today's writer fills every column of
    `gpufleet.contract.columns`, so the columns and event fields added since (migration 012)
    are added first, as `ADD COLUMN IF NOT EXISTS`; 012 then finds them there."""
    v4 = next(m for m in available() if m.version == 12)
    for statement in v4.statements({}):
        if statement.startswith(("ALTER TABLE gpu_samples", "ALTER TABLE gpu_events")):
            store.command(statement)
    insert_all(store, frames, events, tag)


def new_store(chdb_path: Path) -> ClickHouseStore:
    return ClickHouseStore.open(f"chdb://{chdb_path}?database=v2_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def stored(chdb_path: Path) -> Iterator[Stored]:
    store = new_store(chdb_path)
    migrate(store)
    fleet, frames, events, start_ms = make_fleet()
    insert_all(store, frames, events, "fleet")
    store.insert_inventory(fleet.inventory(), "inventory")
    yield Stored(store, fleet, frames, events, start_ms)
    store.command("DROP DATABASE IF EXISTS " + store.query("SELECT currentDatabase()").rows[0][0])
    store.close()


def _same_nan(value: Any) -> Any:
    """NaN (quantiles of no values) compares equal to itself, so rows can be compared with ==."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, list | tuple):
        return tuple(_same_nan(v) for v in value)
    return value


def rows_by_key(store: ClickHouseStore, sql: str, key_columns: int = 2) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(r[:key_columns]): _same_nan(tuple(r[key_columns:])) for r in store.query(sql).rows}
