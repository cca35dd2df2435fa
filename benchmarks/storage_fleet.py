"""Shared by the storage benchmarks: a chDB store in a fresh temp dir, synthetic rows in it.

Every storage benchmark runs in its own process (chDB opens one data path per process) and
fills its store from the same deterministic synthetic fleet (`default` scenario, seed 1),
with timestamps that end now so that no TTL drops them.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from storage import straggler_hours
from storage.clickhouse import ClickHouseStore
from storage.migrations import available, migrate

TICKS_PER_BATCH = 120  # 1,024 GPUs x 120 s = 123k rows per insert, inside the 50k-200k guidance


def open_store(prefix: str) -> ClickHouseStore:
    """A store on a new temp path, in a database named after `prefix`; removed at exit."""
    path = tempfile.mkdtemp(prefix=f"gpufleet-{prefix}-")
    atexit.register(shutil.rmtree, path, True)  # a 24 h fleet leaves gigabytes behind
    return ClickHouseStore.open(f"chdb://{path}?database={prefix}_{uuid.uuid4().hex[:6]}")


def apply_v1(store: ClickHouseStore, raw_ttl_days: int = 14) -> None:
    """Schema v1 (001): the raw tables without codec changes, rollups or views; plus the raw
    columns later migrations added (012's GPM activity and recovery action), which today's
    writer fills, with 012's codecs."""
    for statement in available()[0].statements({"raw_ttl_days": str(raw_ttl_days)}):
        store.command(statement)
    for migration in available():
        for statement in migration.statements({"raw_ttl_days": str(raw_ttl_days)}):
            if migration.version > 1 and statement.startswith(
                ("ALTER TABLE gpu_samples ADD", "ALTER TABLE gpu_samples\n    ADD")
            ):
                store.command(statement)


def frames(gpus: int, seconds: int, seed: int = 1, batch_ticks: int = TICKS_PER_BATCH) -> Iterator[GpuFrame]:
    """`seconds` ticks of `gpus` GPUs at 1 Hz ending now, `batch_ticks` ticks per frame."""
    start_ms = (int(time.time()) - seconds) * 1000
    fleet = SyntheticFleet(gpus, seed, load_scenario("default"), start_ms, 1.0, float(seconds))
    for first in range(0, seconds, batch_ticks):
        yield GpuFrame.concat([fleet.tick()[0] for _ in range(min(batch_ticks, seconds - first))])


def fill(store: ClickHouseStore, gpus: int, seconds: int, label: str = "fill") -> tuple[int, float]:
    """Insert the fleet's rows; returns (rows, seconds spent inside insert calls)."""
    rows, spent = 0, 0.0
    for i, frame in enumerate(frames(gpus, seconds)):
        t = time.perf_counter()
        rows += store.insert_samples(frame, f"{label}-{i}")
        spent += time.perf_counter() - t
    return rows, spent


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def flags(doc: str | None, **defaults: float | int) -> argparse.ArgumentParser:
    """A benchmark's parser: one `--name` per keyword (underscores as dashes), typed like its default."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser


def filled_store(prefix: str, gpus: int, hours: float, schema: str = "v2") -> tuple[ClickHouseStore, int, float, float]:
    """`open_store(prefix)` with schema v1 or v2 and `hours` of `gpus` GPUs at 1 Hz in it:
    (store, rows, seconds inside inserts, seconds in all)."""
    store = open_store(prefix)
    if schema == "v1":
        apply_v1(store)
    else:
        migrate(store)
    t = time.perf_counter()
    rows, insert_s = fill(store, gpus, int(hours * 3600))
    return store, rows, insert_s, time.perf_counter() - t


def generated_store(prefix: str, gpus: int, hours: int, raw_minutes: int) -> tuple[ClickHouseStore, int, int]:
    """`open_store(prefix)`, schema v2, `hours` of `gpus` GPUs ending at a whole minute: the
    last `raw_minutes` real (the synthetic fleet through `insert_samples`, every rollup filled), the
    hours before generated into gpu_minute (gpu_hour from it by `hour_from_minute_sql`) and power_fleet_1s by
    SQL, as `bench_report.py` fills them, and gpu_straggler_hour computed for the generated hours
    (what the writer does as each hour closes). (store, raw rows, end of the window in epoch s)."""
    from bench_report import _gpus, fill_gpu_minute, fill_raw, fill_small_rollups  # it imports this module

    store = open_store(prefix)
    migrate(store)
    end_s = int(time.time()) // 60 * 60
    start_s, raw_s = end_s - hours * 3600, raw_minutes * 60
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), (end_s - raw_s) * 1000, 1.0, float(raw_s))
    _gpus(store, fleet)
    fill_gpu_minute(store, start_s, hours * 60 - raw_minutes)
    # what the writer computes as each hour closes (storage/straggler_hours.py), for the generated hours
    straggler_hours.refresh(store, range(start_s // 3600 * 3600, (end_s - raw_s) // 3600 * 3600, 3600))
    fill_small_rollups(store, start_s, hours * 3600 - raw_s, gpus)
    return store, fill_raw(store, fleet, raw_s), end_s
