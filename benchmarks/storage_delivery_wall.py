"""Wall time of one delivery's `insert_samples`: rollup inserts side by side vs one after another.

    .venv/bin/python benchmarks/storage_delivery_wall.py [--gpus 4000] [--ticks 1] [--deliveries 30]

One tick of 2,000-6,000 GPUs is what a partition's delivery holds at 1 Hz (4 partitions,
20,000 GPUs); `--ticks 25 --gpus 20000` is a backlog's delivery. Each design has its own
database in one chDB path, and every delivery goes into each in turn, the order rotating,
so the other engineers' load on the machine falls on both alike (a design measured after
the other, minutes apart, can see twice the load). Prints per design the median, p90 and
mean wall time of a delivery, the median of the per-delivery ratios, and the row counts of
every level, which must be equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from storage_fleet import frames, open_store

import storage.clickhouse
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate

CONCURRENT, SERIAL = "rollup inserts side by side (s41)", "rollup inserts one after another (before)"
COUNTS = (
    "SELECT (SELECT count() FROM gpu_samples), (SELECT sum(samples) FROM gpu_minute), (SELECT sum(samples) FROM gpu_hour),"
    " (SELECT sum(gpus) FROM power_rack_1s), (SELECT sum(gpus) FROM power_hall_1s), (SELECT sum(gpus) FROM power_fleet_1s),"
    " (SELECT count() FROM gpu_latest_state FINAL)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=4000)
    parser.add_argument("--ticks", type=int, default=1, help="fleet seconds per delivery (default: %(default)s)")
    parser.add_argument("--deliveries", type=int, default=30)
    args = parser.parse_args()
    # measure side by side at every size: the writer keeps deliveries above this limit one
    # after another (this benchmark's 500,000-row figures are why)
    storage.clickhouse.CONCURRENT_ROLLUPS_MAX_ROWS = 1 << 62
    batches = [b for b in frames(args.gpus, args.ticks * args.deliveries, batch_ticks=args.ticks) if len(b)]
    base = open_store("wall")
    stores: dict[str, ClickHouseStore] = {}
    for design in (CONCURRENT, SERIAL):
        db = f"w_{uuid.uuid4().hex[:8]}"
        base.command(f"CREATE DATABASE {db}")
        store = ClickHouseStore.open(base.dsn.rsplit("=", 1)[0] + "=" + db)
        migrate(store)
        store.concurrent_rollups = design == CONCURRENT
        stores[design] = store
    walls: dict[str, list[float]] = {d: [] for d in stores}
    load = os.getloadavg()[0]
    cpu = time.process_time()
    for i, frame in enumerate(batches):
        order = list(stores)[i % 2 :] + list(stores)[: i % 2]
        for design in order:
            started = time.perf_counter()
            stores[design].insert_samples(frame, f"d-{i}")
            walls[design].append(time.perf_counter() - started)
    cpu = time.process_time() - cpu
    print(
        f"{sum(len(b) for b in batches):,} rows in {len(batches)} deliveries of {args.ticks} tick(s) x {args.gpus:,} GPUs;"
        f" load {load:.1f} -> {os.getloadavg()[0]:.1f}; CPU of the whole run {cpu:.1f} s (both designs, merges included)"
    )
    for design, each in walls.items():
        ordered = sorted(each)
        p90 = ordered[int(len(ordered) * 0.9)]
        print(
            f"  {design}: median {statistics.median(each) * 1e3:.0f} ms, p90 {p90 * 1e3:.0f} ms,"
            f" mean {statistics.mean(each) * 1e3:.0f} ms; counts {stores[design].query(COUNTS).rows[0]}"
        )
    ratios = [c / s for c, s in zip(walls[CONCURRENT], walls[SERIAL], strict=True)]
    print(f"  side by side / one after another, median of the per-delivery ratios: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
