"""What the rollups cost at insert time: views on raw rows (013) vs rollups computed by the writer (014), vs none.

    .venv/bin/python benchmarks/storage_insert_views.py [--gpus 1024] [--minutes 30] [--rounds 3] [--batch-ticks 120]
        [--no-views-design] [--no-hour-view] [--breakdown]

The same pre-built frames (`--batch-ticks` seconds of the fleet per insert) are inserted,
alternating, each round into fresh databases:
- v1: the raw tables only (001 plus the raw columns added since), no rollups: the baseline;
- 013 (views): every migration up to 013; the minute, rack-second and latest-state rollups
  come from materialized views on gpu_samples, the hour, hall and fleet ones chained from those;
- 014 (stream): the current schema; `insert_samples` computes the minute, hour, rack-second
  and latest-state rollups from the frame with numpy and inserts them; the hall and fleet
  power views stay, chained from power_rack_1s; the four rollup inserts run side by side,
  each on its own connection, once the raw insert is acknowledged;
- 014 serial: the same, the rollup inserts one after another (the writer before s41);
- 014 with gpu_hour_mv: the same, but the hour rollup left to 012's view chained from
  gpu_minute (the design 014 replaced, measured to say why).
Only the time inside `insert_samples` counts. Prints rows/s for each (best of the rounds)
and, per round, the median and p90 wall time of one delivery (one `insert_samples`),
µs per row over v1 for both rollup designs, and their ratios. `--breakdown` also times the
writer's numpy rollups alone and each of its inserts (cProfile-free: perf_counter around each).
"""

from __future__ import annotations

import argparse
import time
import uuid

from storage_fleet import apply_v1, frames, open_store

from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import STREAM_ROLLUPS, STREAM_ROLLUPS_VERSION, ClickHouseStore, stream_rollups
from storage.migrations import MIGRATIONS_TABLE, Ttls, available, migrate
from storage.native import encode_columns, encode_frame, frame_column_names

V1, VIEWS, STREAM = "v1 (raw tables, no rollups)", "013 (rollups by views on raw)", "014 (rollups by the writer)"
SERIAL = "014, rollup inserts one after another (as before s41)"
HOUR_VIEW = "014, but gpu_hour by its view chained from gpu_minute (as 011-013)"


def insert_all(store: ClickHouseStore, batches: list[GpuFrame]) -> tuple[float, float, list[float]]:
    """Wall and CPU seconds inside `insert_samples` (CPU: this process, chDB's threads included), and each delivery's wall."""
    wall = cpu = 0.0
    each: list[float] = []
    for i, frame in enumerate(batches):
        t, c = time.perf_counter(), time.process_time()
        store.insert_samples(frame, f"bench-{i}")
        each.append(time.perf_counter() - t)
        wall += each[-1]
        cpu += time.process_time() - c
    return wall, cpu, each


def migrate_views(store: ClickHouseStore) -> None:
    """Every migration before 014, recorded as applied: the views on gpu_samples feed the rollups."""
    params = Ttls().params()
    store.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
        " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
    )
    for m in available():
        if m.version < STREAM_ROLLUPS_VERSION:
            for statement in m.statements(params):
                store.command(statement)
            store.command(f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ({m.version}, '{m.name}', '')")
    store.schema_changed()


def fresh(base: ClickHouseStore, design: str) -> ClickHouseStore:
    db = f"b_{uuid.uuid4().hex[:8]}"
    base.command(f"CREATE DATABASE {db}")
    store = ClickHouseStore.open(base.dsn.rsplit("=", 1)[0] + "=" + db)
    if design == V1:
        apply_v1(store)
    elif design == VIEWS:
        migrate_views(store)
    else:
        migrate(store)
    store.concurrent_rollups = design != SERIAL
    if design == HOUR_VIEW:
        twelve = next(m for m in available() if m.version == 12)
        store.command(next(s for s in twelve.statements(Ttls().params()) if "VIEW IF NOT EXISTS gpu_hour_mv" in s))
        store.stream_tables = tuple(t for t in STREAM_ROLLUPS if t != "gpu_hour")
    return store


def drop(base: ClickHouseStore, store: ClickHouseStore) -> None:
    base.command("DROP DATABASE " + store.dsn.rsplit("=", 1)[1])


class Clock:
    """Wall and CPU seconds per label (process time: chDB's threads included, so background
    merges that run meanwhile count too)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}
        self._label, self._wall, self._cpu = "", 0.0, 0.0

    def start(self, label: str) -> None:
        self._label, self._wall, self._cpu = label, time.perf_counter(), time.process_time()

    def stop(self) -> None:
        total = self.spent.setdefault(self._label, [0.0, 0.0])
        total[0] += time.perf_counter() - self._wall
        total[1] += time.process_time() - self._cpu


def breakdown(base: ClickHouseStore, batches: list[GpuFrame]) -> None:
    """Where the writer's time goes with stream rollups, wall and CPU per raw row."""
    rows = sum(len(b) for b in batches)
    store = fresh(base, STREAM)
    clock = Clock()
    for i, frame in enumerate(batches):
        clock.start("raw insert (Native, gpu_samples)")
        store._native_insert("gpu_samples", frame_column_names(), encode_frame(frame), f"x-{i}")
        clock.stop()
        clock.start("all rollups: numpy + encode")
        blocks = [(table, columns, encode_columns(n, columns)) for table, n, columns in stream_rollups(frame)]
        clock.stop()
        for table, columns, block in blocks:
            clock.start(f"{table}: insert" + (" (+ hall, fleet views)" if table == "power_rack_1s" else ""))
            store._native_insert(table, [c[0] for c in columns], block, f"x-{i}:{table}")
            clock.stop()
    for label, (wall, cpu) in clock.spent.items():
        print(f"  {label}: {wall / rows * 1e6:.2f} µs/row wall, {cpu / rows * 1e6:.2f} µs/row CPU")
    wall, cpu = (sum(v[k] for v in clock.spent.values()) for k in (0, 1))
    print(f"  total: {wall / rows * 1e6:.2f} µs/row wall ({rows / wall:,.0f} rows/s), {cpu / rows * 1e6:.2f} µs/row CPU")
    drop(base, store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1024)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-ticks", type=int, default=120, help="fleet seconds per insert (default: %(default)s)")
    parser.add_argument("--breakdown", action="store_true", help="also time each part of the 014 writer")
    parser.add_argument("--no-views-design", action="store_true", help="leave out 013 (the slowest) from the rounds")
    parser.add_argument("--no-hour-view", action="store_true", help="leave out 014 with gpu_hour_mv from the rounds")
    args = parser.parse_args()
    batches = list(frames(args.gpus, args.minutes * 60, batch_ticks=args.batch_ticks))
    rows = sum(len(b) for b in batches)
    print(f"{rows:,} rows in {len(batches)} batches of {args.batch_ticks} s ({args.gpus:,} GPUs x {args.minutes} min)")
    base = open_store("views")
    designs: tuple[str, ...] = (V1, STREAM, SERIAL) if args.no_views_design else (V1, VIEWS, STREAM, SERIAL)
    designs += () if args.no_hour_view else (HOUR_VIEW,)
    best = dict.fromkeys(designs, float("inf"))
    best_cpu = dict.fromkeys(designs, float("inf"))
    for round_ in range(args.rounds):
        for design in designs:
            store = fresh(base, design)
            wall, cpu, each = insert_all(store, batches)
            best[design], best_cpu[design] = min(best[design], wall), min(best_cpu[design], cpu)
            each.sort()
            per = f"per delivery median {each[len(each) // 2] * 1e3:.0f} ms, p90 {each[int(len(each) * 0.9)] * 1e3:.0f} ms"
            rate = f"{rows / wall:,.0f} rows/s, CPU {cpu / rows * 1e6:.2f} µs/row"
            print(f"  round {round_ + 1} {design}: {rate}, {per}", flush=True)
            drop(base, store)
    for design, spent in best.items():
        extra = "" if design == V1 else f", +{(spent - best[V1]) / rows * 1e6:.2f} µs/row over v1"
        cpu = best_cpu[design] / rows * 1e6
        line = f"{design}: {rows / spent:,.0f} rows/s, {spent / rows * 1e6:.2f} µs/row, CPU {cpu:.2f} µs/row"
        print(f"{line} (best of {args.rounds}){extra}")
    for design in designs[1:]:
        print(f"{design} / v1: {best[V1] / best[design]:.2f} of the insert rate, {best_cpu[design] / best_cpu[V1]:.2f}x the CPU")
    if args.breakdown:
        breakdown(base, batches)


if __name__ == "__main__":
    main()
