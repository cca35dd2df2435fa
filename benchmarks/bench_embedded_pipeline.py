"""Embedded pipeline throughput, against a raw clickhouse-connect insert of the same rows.

    .venv/bin/python benchmarks/bench_embedded_pipeline.py [--gpus 20000] [--ticks 60]

1. pipeline: synthetic fleet → agent (thread) → memory transport → ingest (frame check,
   Native block, insert with dedup token) → chDB, unthrottled, as `gpufleet demo --speed 0`.
2. baseline: the same rows, pre-built as numpy columns, through clickhouse-connect's own
   column-oriented `insert()` into an identical table (no generation, no checks).
3. the synthetic model alone: one tick of 200,000 GPUs.
Prints GPU rows/s for each and the ratio pipeline / baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.app.demo import DemoOptions, run_demo
from gpufleet.contract.columns import LABEL_COLUMNS, METRIC_COLUMNS
from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate


def bench_tick(gpus: int, repeats: int = 5) -> float:
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), int(time.time()) * 1000, 1.0, 3600)
    fleet.tick()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fleet.tick()
        best = min(best, time.perf_counter() - t)
    return best


def bench_pipeline(path: str, gpus: int, ticks: int) -> tuple[float, int, int]:
    dsn = f"chdb://{path}?database=pipe_{uuid.uuid4().hex[:8]}"
    opts = DemoOptions(gpus=gpus, duration_s=ticks, interval_s=1.0, speed=0, scenario="default", seed=1)
    from rich.console import Console

    t = time.perf_counter()
    result = run_demo(opts, Console(quiet=True), store_dsn=dsn)
    whole_s = time.perf_counter() - t
    print(f"  demo run incl. store open, migrations, inventory and summary queries: {whole_s:.2f} s")
    return result.wall_s, result.ingest.rows, result.start_ms


def bench_raw_insert(path: str, gpus: int, ticks: int, start_ms: int) -> tuple[float, int]:
    store = ClickHouseStore.open(f"chdb://{path}?database=raw_{uuid.uuid4().hex[:8]}")
    migrate(store)
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), start_ms, 1.0, ticks)
    frames = [fleet.tick()[0] for _ in range(ticks)]
    names = ["ts", *LABEL_COLUMNS, "gpu_index", "seq", *(m.name for m in METRIC_COLUMNS)]
    batches = []
    for i in range(0, ticks, 25):  # the same 500k-row batches the pipeline forms at 20k GPUs
        f = GpuFrame.concat(frames[i : i + 25])
        cols = [
            f.ts_ms,
            *(f.label_list(k) for k in LABEL_COLUMNS),
            f.gpu_index,
            f.seq,
            *(f.metrics[m.name] for m in METRIC_COLUMNS),
        ]
        batches.append((len(f), cols))
    context = store.client.create_insert_context("gpu_samples", column_names=names, column_oriented=True)
    rows = 0
    t = time.perf_counter()
    for n, cols in batches:
        context.data = cols
        store.client.insert(context=context, settings={"async_insert": 0})
        rows += n
    raw_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, ticks, 25):
        store.insert_samples(GpuFrame.concat(frames[i : i + 25]), f"writer-{i}")
    print(f"  gpufleet's Native-block writer alone, same rows: {rows / (time.perf_counter() - t):,.0f} rows/s")
    return raw_s, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpus", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    tick_s = bench_tick(200_000)
    tick_small_s = bench_tick(2_048)
    print(
        f"synthetic tick, 200,000 GPUs: {tick_s * 1000:.0f} ms (2,048 GPUs: {tick_small_s * 1000:.1f} ms; "
        f"per GPU {tick_s / 200_000 * 1e6:.2f} µs vs {tick_small_s / 2048 * 1e6:.2f} µs)"
    )
    with tempfile.TemporaryDirectory() as path:
        pipe_s, pipe_rows, start_ms = bench_pipeline(path, args.gpus, args.ticks)
        raw_s, raw_rows = bench_raw_insert(path, args.gpus, args.ticks, start_ms)
    pipe_rate, raw_rate = pipe_rows / pipe_s, raw_rows / raw_s
    print(f"embedded pipeline (first tick to last commit): {pipe_rows:,} GPU rows in {pipe_s:.2f} s = {pipe_rate:,.0f} rows/s")
    print(f"raw clickhouse-connect columnar insert (numpy, same rows): {raw_rows:,} in {raw_s:.2f} s = {raw_rate:,.0f} rows/s")
    print(f"ratio pipeline / raw insert: {pipe_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
