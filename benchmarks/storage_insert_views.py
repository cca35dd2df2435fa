"""What the rollups cost at insert time: the current schema with every view vs schema v1 without.

    .venv/bin/python benchmarks/storage_insert_views.py [--gpus 1024] [--minutes 30] [--rounds 3]

The same pre-built frames (`--batch-ticks` seconds of the fleet per insert) are inserted
into a v1 database (raw tables only) and into a current one (codecs of 002, minute and hour
rollups, per-second rack/hall/fleet power, latest state; chained as of 011), alternating, each round into
fresh databases. Only the time inside `insert_samples` counts. Prints rows/s for both, best
of the rounds, and the ratio. The per-GPU views reduce each insert block to one row per GPU
per minute (or hour, or one latest row), so their cost depends on how many seconds of each
GPU a batch holds: run it with `--batch-ticks 120` and `--batch-ticks 10`.
"""

from __future__ import annotations

import argparse
import time
import uuid

from storage_fleet import apply_v1, frames, open_store

from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate


def insert_all(store: ClickHouseStore, batches: list[GpuFrame]) -> float:
    spent = 0.0
    for i, frame in enumerate(batches):
        t = time.perf_counter()
        store.insert_samples(frame, f"bench-{i}")
        spent += time.perf_counter() - t
    return spent


VIEWS = ("gpu_minute_mv", "gpu_hour_mv", "power_rack_1s_mv", "power_hall_1s_mv", "power_fleet_1s_mv", "gpu_latest_state_mv")
# Since migration 011 the hour and the hall/fleet views read their source rollup's inserts,
# so each is timed with the views it is chained from.
VIEW_SETS = {
    "gpu_minute_mv": ("gpu_minute_mv",),
    "gpu_minute_mv + gpu_hour_mv (chained)": ("gpu_minute_mv", "gpu_hour_mv"),
    "gpu_latest_state_mv": ("gpu_latest_state_mv",),
    "power_rack_1s_mv": ("power_rack_1s_mv",),
    "power_rack_1s_mv + hall + fleet (chained)": ("power_rack_1s_mv", "power_hall_1s_mv", "power_fleet_1s_mv"),
}


def fresh(base: ClickHouseStore, keep: tuple[str, ...] | None) -> ClickHouseStore:
    """A new database: v1 when `keep` is None, else v2 with only the views in `keep`."""
    db = f"b_{uuid.uuid4().hex[:8]}"
    base.command(f"CREATE DATABASE {db}")
    store = ClickHouseStore.open(base.dsn.rsplit("=", 1)[0] + "=" + db)
    if keep is None:
        apply_v1(store)
        return store
    migrate(store)
    for view in set(VIEWS) - set(keep):
        store.command(f"DROP VIEW {view}")
    return store


def per_view(base: ClickHouseStore, batches: list[GpuFrame], rounds: int) -> None:
    """Each view (with those it is chained from) on v2: its insert cost in µs per row over v2 without views."""
    rows = sum(len(b) for b in batches)
    cost: dict[str, float] = {}
    for label, keep in (("v2, no views", ()), *VIEW_SETS.items()):
        best = float("inf")
        for _ in range(rounds):
            store = fresh(base, keep)
            best = min(best, insert_all(store, batches))
            store.command("DROP DATABASE " + store.dsn.rsplit("=", 1)[1])
        cost[label] = best / rows * 1e6
        extra = "" if not keep else f" (+{cost[label] - cost['v2, no views']:.1f} µs/row)"
        print(f"  {label}: {rows / best:,.0f} rows/s, {cost[label]:.1f} µs/row{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1024)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-ticks", type=int, default=120, help="fleet seconds per insert (default: %(default)s)")
    parser.add_argument("--per-view", action="store_true", help="also time each view alone")
    args = parser.parse_args()
    batches = list(frames(args.gpus, args.minutes * 60, batch_ticks=args.batch_ticks))
    rows = sum(len(b) for b in batches)
    print(f"{rows:,} rows in {len(batches)} batches of {args.batch_ticks} s ({args.gpus:,} GPUs x {args.minutes} min)")
    base = open_store("views")
    best: dict[str, float] = {"v1 (raw tables, no views)": float("inf"), "v2 (codecs + 6 views, 011 chain)": float("inf")}
    for round_ in range(args.rounds):
        for label in list(best):
            store = fresh(base, None if label.startswith("v1") else VIEWS)
            spent = insert_all(store, batches)
            best[label] = min(best[label], spent)
            print(f"  round {round_ + 1} {label}: {rows / spent:,.0f} rows/s", flush=True)
            base.command("DROP DATABASE " + store.dsn.rsplit("=", 1)[1])
    v1, v2 = best.values()
    for label, spent in best.items():
        print(f"{label}: {rows / spent:,.0f} rows/s (best of {args.rounds})")
    print(f"v2 with views / v1 without: {v1 / v2:.2f}x the insert rate ({v2 / v1:.2f}x the insert time)")
    if args.per_view:
        per_view(base, batches, args.rounds)


if __name__ == "__main__":
    main()
