"""Where the fixed cost of a tiny delivery's `insert_samples` goes, on chDB.

    .venv/bin/python benchmarks/storage_insert_fixed_cost.py [--gpus 8] [--reps 30]

One node's tick (8 GPUs, 8 rows) is inserted `--reps` times under new tokens; medians of
wall and CPU (this process: chDB's threads included). Then, for the same blocks:
- the statements one `insert_samples` sends (the migration look-ups are made once per
  store, not per insert);
- each of its five inserts alone (clickhouse-connect `raw_insert`, as the writer does);
- the same insert statement run on the chDB handle directly (`FROM INFILE`, without the
  client) and without the SETTINGS clause: what the client and the settings add;
- each block into a copy of its table (`CREATE TABLE ... AS`: no view reads it; for
  power_rack_1s, what its chained hall and fleet views cost);
- each block into a copy of its table with the Null engine (parsed, converted, checked,
  stored nowhere): the engine's cost per statement before any part is written;
- `SELECT 1`: chDB's cost per statement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from storage_fleet import frames, open_store

from storage.clickhouse import INSERT_SETTINGS, SAMPLES_TABLE, stream_rollups
from storage.migrations import migrate
from storage.native import encode_columns, encode_frame, frame_column_names


def timed(fn: Callable[[int], object], reps: int) -> tuple[float, float]:
    """Median wall and CPU ms of `fn(i)` over `reps` calls."""
    walls, cpus = [], []
    for i in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    store = open_store("fixed")
    migrate(store)
    # the first `--gpus` rows of each tick of a larger fleet: a small fleet's nodes go offline
    # (its faults), which would leave ticks empty
    fleet = frames(max(args.gpus * 8, 64), args.reps + 1, batch_ticks=1)
    ticks = [f.take(np.arange(min(args.gpus, len(f)))) for f in fleet]
    rows = statistics.mean(len(t) for t in ticks)
    print(f"{rows:.0f} rows (GPUs) per delivery, one tick, {args.reps} reps; load {os.getloadavg()[0]:.1f}")
    wall, cpu = timed(lambda i: store.insert_samples(ticks[i], f"d-{i}"), args.reps)
    print(f"  insert_samples: {wall:.1f} ms wall, {cpu:.1f} ms CPU (median)")

    calls: list[str] = []
    call = store._call

    def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{fn.__name__} {args[0] if fn.__name__ == 'raw_insert' else str(args[0])[:40]}")
        return call(fn, *args, **kwargs)

    store._call = counted  # type: ignore[method-assign]
    store.insert_samples(ticks[-1], "counted")
    store._call = call  # type: ignore[method-assign]
    print(f"  statements sent by one insert_samples (after the first): {len(calls)}: {', '.join(sorted(calls))}")
    frame = ticks[0]
    blocks = [(SAMPLES_TABLE, frame_column_names(), encode_frame(frame))]
    blocks += [(table, [c[0] for c in columns], encode_columns(rows, columns)) for table, rows, columns in stream_rollups(frame)]
    conn: Any = store.client._backend._handle.conn  # type: ignore[attr-defined]  # chDB's handle under the client, to time the statement without it
    path = tempfile.mkdtemp(prefix="gpufleet-fixed-")
    pinned = ", ".join(f"{k} = {v}" for k, v in INSERT_SETTINGS.items())
    totals = dict.fromkeys(("client", "direct", "direct, no settings", "copy without views", "Null engine"), 0.0)
    for table, names, parts in blocks:
        data = b"".join(parts)
        block_file = os.path.join(path, f"{table}.native")
        with open(block_file, "wb") as out:
            out.write(data)
        store.command(f"CREATE TABLE {table}_null AS {table} ENGINE = Null")
        store.command(f"CREATE TABLE {table}_copy AS {table}")  # same engine and settings; no view reads it
        columns = ", ".join(names)

        def client(i: int, table: str = table, names: list[str] = names, data: bytes = data) -> None:
            settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"c-{table}-{i}"}
            store.client.raw_insert(table, names, data, settings=settings, fmt="Native")

        def direct(i: int, target: str, settings: bool, block_file: str = block_file, columns: str = columns) -> None:
            clause = f" SETTINGS {pinned}, insert_deduplication_token = '{target}-{settings}-{i}'" if settings else ""
            conn.query(f"INSERT INTO {target} ({columns}) FROM INFILE '{block_file}'{clause} FORMAT Native", "TabSeparated")

        figures = {
            "client": timed(client, args.reps),
            "direct": timed(partial(direct, target=table, settings=True), args.reps),
            "direct, no settings": timed(partial(direct, target=table, settings=False), args.reps),
            "copy without views": timed(partial(direct, target=f"{table}_copy", settings=True), args.reps),
            "Null engine": timed(partial(direct, target=f"{table}_null", settings=True), args.reps),
        }
        for name, (w, _) in figures.items():
            totals[name] += w
        line = ", ".join(f"{name} {w:.1f} ({c:.1f} CPU)" for name, (w, c) in figures.items())
        print(f"  {table} ({len(names)} columns): {line} ms")
    print("  five inserts, sum of medians: " + ", ".join(f"{name} {t:.1f}" for name, t in totals.items()) + " ms")
    wall, cpu = timed(lambda i: conn.query("SELECT 1", "TabSeparated"), args.reps)
    print(f"  SELECT 1: {wall:.2f} ms wall, {cpu:.2f} ms CPU")
    print(f"  load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
