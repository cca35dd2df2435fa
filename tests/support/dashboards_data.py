"""A synthetic fleet stored in chDB for the dashboard and alert tests.

The fleet's ticks go into the store through the same `Store` calls the ingest service
makes (samples as columnar frames, events, inventory, and the synthetic facility's CDU, PDU
and room readings for the same instants), a minute of ticks per insert, so the rollup views
fill exactly as in production. The fleet object stays around: its
`truth` says what was injected, and its frames are the oracle for thermal thresholds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from collectors.facility.synthetic import SyntheticFacility
from collectors.synthetic.fleet import InjectedFault, SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import SyntheticScheduler
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import FacilitySample
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate

TICKS_PER_INSERT = 60


@dataclass(slots=True)
class StoredFleet:
    fleet: SyntheticFleet
    start_ms: int
    ticks: int
    frames: list[GpuFrame] = field(default_factory=list)
    facility: list[FacilitySample] = field(default_factory=list)

    @property
    def end_ms(self) -> int:
        return self.start_ms + (self.ticks - 1) * 1000

    def at_share(self, share: float) -> int:
        """Fleet time (epoch ms, whole second) at `share` of the run."""
        return self.start_ms + int(share * self.ticks) * 1000

    def truth(self, *kinds: str) -> list[InjectedFault]:
        return [f for f in self.fleet.truth if f.kind in kinds]

    def label(self, name: str, gpu: int) -> str:
        labels = self.fleet.topology.labels[name]
        return str(labels.values[labels.codes[gpu]])

    def gpu_key(self, gpu: int) -> tuple[str, str]:
        """(node, gpu index) of a topology-local GPU id, as alert labels spell them."""
        return self.label("node", gpu), str(int(self.fleet.topology.gpu_index[gpu]))

    def per_gpu(self, column: str, from_ms: int, to_ms: int) -> dict[tuple[str, str], list[int]]:
        """Every value of `column` per GPU with ts in [from_ms, to_ms], from the frames."""
        out: dict[tuple[str, str], list[int]] = {}
        for frame in self.frames:
            if not len(frame) or not from_ms <= int(frame.ts_ms[0]) <= to_ms:
                continue
            nodes = frame.labels["node"].to_list()
            for node, index, value in zip(nodes, frame.gpu_index.tolist(), frame.metrics[column].tolist(), strict=True):
                out.setdefault((node, str(index)), []).append(int(value))
        return out

    def fleet_power_mw(self) -> dict[int, float]:
        """Fleet power per second (MW), keyed by epoch second, from the frames."""
        return {
            int(f.ts_ms[0]) // 1000: float(np.sum(f.metrics["power_mw"], dtype=np.float64)) / 1e9 for f in self.frames if len(f)
        }


def store_fleet(
    store: ClickHouseStore, gpus: int = 512, ticks: int = 600, scenario: str = "default", seed: int = 3, end_ms: int | None = None
) -> StoredFleet:
    """Simulate `ticks` seconds of a fleet ending at `end_ms` (default: now) and store them."""
    end_ms = end_ms if end_ms is not None else int(time.time()) * 1000
    start_ms = end_ms - (ticks - 1) * 1000
    fleet = SyntheticFleet(gpus, seed, load_scenario(scenario), start_ms, 1.0, float(ticks))
    stored = StoredFleet(fleet, start_ms, ticks)
    facility = SyntheticFacility(fleet, site=fleet.topology.cluster)
    scheduler = SyntheticScheduler(fleet, seed)  # the fleet's jobs, as the demo publishes them
    store.insert_inventory(fleet.inventory(), f"inventory:{seed}")
    for batch in range(0, ticks, TICKS_PER_INSERT):
        frames, events, readings, jobs = [], [], [], []
        for _ in range(min(TICKS_PER_INSERT, ticks - batch)):
            ts_ms = fleet.now_ms
            jobs.extend(scheduler.tick(ts_ms))  # before the sample, as the demo runs it
            frame, tick_events = fleet.tick()
            frames.append(frame)
            events.extend(tick_events)
            readings.extend(facility.sample(ts_ms))
            for event in tick_events:
                scheduler.observe(event)
        stored.frames.extend(frames)
        stored.facility.extend(readings)
        store.insert_samples(GpuFrame.concat(frames), f"samples:{seed}:{batch}")
        store.insert_facility(readings, f"facility:{seed}:{batch}")
        if events:
            store.insert_events(events, f"events:{seed}:{batch}")
        store.insert_jobs(jobs, f"jobs:{seed}:{batch}")
    return stored


# Each test module that imports the fixtures below gets its own copy of them, so the stored
# fleets are kept here: every module reads the same one (no test writes to them), built once.
_FLEETS: dict[str, tuple[ClickHouseStore, StoredFleet]] = {}


def _stored(chdb_path: Path, scenario: str) -> Iterator[tuple[ClickHouseStore, StoredFleet]]:
    if scenario not in _FLEETS:
        store = ClickHouseStore.open(f"chdb://{chdb_path}?database=dash_{scenario}_{uuid.uuid4().hex[:8]}")
        migrate(store)
        _FLEETS[scenario] = store, store_fleet(store, scenario=scenario)
    yield _FLEETS[scenario]
    stored = _FLEETS.pop(scenario, None)  # session teardown: the first copy to finish closes the store
    if stored is not None:
        stored[0].close()


@pytest.fixture(scope="session", name="default_fleet")
def default_fleet_fixture(chdb_path: Path) -> Iterator[tuple[ClickHouseStore, StoredFleet]]:
    """512 GPUs, 10 minutes, the default fault scenario, stored once for every dashboard test."""
    yield from _stored(chdb_path, "default")


@pytest.fixture(scope="session", name="healthy_fleet")
def healthy_fleet_fixture(chdb_path: Path) -> Iterator[tuple[ClickHouseStore, StoredFleet]]:
    """The same fleet with scenario `none`: no faults at all."""
    yield from _stored(chdb_path, "none")
