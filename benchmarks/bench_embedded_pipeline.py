"""Embedded pipeline throughput with every rollup, against chDB's insert of the same rows without views.

    .venv/bin/python benchmarks/bench_embedded_pipeline.py [--gpus 20000] [--ticks 60] [--pipeline-rounds 2]

1. pipeline: synthetic fleet → agent (thread) → memory transport → ingest (frame check,
   Native block, insert with dedup token, the rollups computed from the batch and inserted,
   the chained views) → chDB, unthrottled, as `gpufleet demo --speed 0`.
2. baseline: the same rows, pre-built as 25-tick frames, as one Native block each into a
   table with gpu_samples' columns, codecs and key and no views (chDB's own insert rate);
   and through clickhouse-connect's column-oriented `insert()` into that table.
3. the writer alone (`insert_samples`) on the same frames, both rollup designs: rollups
   computed from the batch (014, today) and materialized views on raw rows (013).
4. the synthetic model alone: one tick of 200,000 GPUs.
Prints GPU rows/s for each and the ratios to the baseline, and CPU-seconds per million rows
(this process, every thread: a measure that a busy machine disturbs less than wall time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

from storage_insert_views import migrate_views

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.app.demo import DemoOptions, run_demo
from gpufleet.contract.columns import LABEL_COLUMNS, METRIC_COLUMNS
from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from storage.native import encode_frame, frame_column_names

BATCH_TICKS = 25
NO_VIEWS = "baseline: chDB insert, Native block, same rows and columns, no views"
CC_COLUMNAR = "clickhouse-connect columnar insert (numpy), same table"
STREAM = "writer, rollups computed from the batch (014)"
VIEWS = "writer, rollups by views on raw (013)"


def bench_tick(gpus: int, repeats: int = 5) -> float:
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), int(time.time()) * 1000, 1.0, 3600)
    fleet.tick()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fleet.tick()
        best = min(best, time.perf_counter() - t)
    return best


def bench_pipeline(path: str, gpus: int, ticks: int) -> tuple[float, float, int, int]:
    dsn = f"chdb://{path}?database=pipe_{uuid.uuid4().hex[:8]}"
    opts = DemoOptions(gpus=gpus, duration_s=ticks, interval_s=1.0, speed=0, scenario="default", seed=1)
    from rich.console import Console

    t = time.perf_counter()
    result = run_demo(opts, Console(quiet=True), store_dsn=dsn)
    whole_s = time.perf_counter() - t
    store = ClickHouseStore.open(dsn)  # dropped, so that its merges do not run under the next measurements
    store.command("DROP DATABASE " + dsn.rsplit("=", 1)[1])
    store.close()
    print(f"  demo run incl. store open, migrations, inventory and summary queries: {whole_s:.2f} s")
    return result.wall_s, result.cpu_s, result.ingest.rows, result.start_ms


def batches_of(gpus: int, ticks: int, start_ms: int) -> list[GpuFrame]:
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), start_ms, 1.0, ticks)
    frames = [fleet.tick()[0] for _ in range(ticks)]
    # the same 500k-row batches the pipeline forms at 20k GPUs
    return [GpuFrame.concat(frames[i : i + BATCH_TICKS]) for i in range(0, ticks, BATCH_TICKS)]


def _plain_native(store: ClickHouseStore, batches: list[GpuFrame]) -> None:
    for i, batch in enumerate(batches):
        store._native_insert("samples_plain", frame_column_names(), encode_frame(batch), f"plain-{i}")


def _plain_columnar(store: ClickHouseStore, batches: list[GpuFrame]) -> None:
    context = store.client.create_insert_context("samples_plain", column_names=frame_column_names(), column_oriented=True)
    for batch in batches:
        context.data = [
            batch.ts_ms,
            *(batch.label_list(k) for k in LABEL_COLUMNS),
            batch.gpu_index,
            batch.seq,
            *(batch.metrics[m.name] for m in METRIC_COLUMNS),
        ]
        store.client.insert(context=context, settings={"async_insert": 0})


def bench_writers(path: str, batches: list[GpuFrame], rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall and best CPU seconds of `rounds` to store `batches` each way, alternating; each
    into a fresh database dropped right after, so that no design pays for another's background merges."""
    best = dict.fromkeys((NO_VIEWS, CC_COLUMNAR, STREAM, VIEWS), float("inf"))
    best_cpu = dict(best)
    for _ in range(rounds):
        for design in best:
            store = ClickHouseStore.open(f"chdb://{path}?database=w_{uuid.uuid4().hex[:8]}")
            if design == VIEWS:
                migrate_views(store)
            else:
                migrate(store)
            # the baseline: chDB's own insert of the same rows into the same columns, no views, no rollups
            store.command("CREATE TABLE samples_plain AS gpu_samples")
            t, cpu = time.perf_counter(), time.process_time()
            if design == NO_VIEWS:
                _plain_native(store, batches)
            elif design == CC_COLUMNAR:
                _plain_columnar(store, batches)
            else:
                for i, batch in enumerate(batches):
                    store.insert_samples(batch, f"w-{i}")
            best[design] = min(best[design], time.perf_counter() - t)
            best_cpu[design] = min(best_cpu[design], time.process_time() - cpu)
            store.command("DROP DATABASE " + str(store.query("SELECT currentDatabase()").rows[0][0]))
            store.close()
    return best, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpus", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the writer comparison (best kept)")
    parser.add_argument("--pipeline-rounds", type=int, default=2, help="runs of the whole pipeline (fastest kept)")
    args = parser.parse_args()
    tick_s = bench_tick(200_000)
    tick_small_s = bench_tick(2_048)
    print(
        f"synthetic tick, 200,000 GPUs: {tick_s * 1000:.0f} ms (2,048 GPUs: {tick_small_s * 1000:.1f} ms; "
        f"per GPU {tick_s / 200_000 * 1e6:.2f} µs vs {tick_small_s / 2048 * 1e6:.2f} µs)"
    )
    with tempfile.TemporaryDirectory() as path:
        runs = [bench_pipeline(path, args.gpus, args.ticks) for _ in range(args.pipeline_rounds)]
        pipe_s, pipe_cpu_s, pipe_rows, start_ms = min(runs)  # the fastest run, with its own CPU figure
        if len(runs) > 1:
            print("  pipeline runs: " + ", ".join(f"{r[2] / r[0]:,.0f} rows/s ({r[1] * 1e6 / r[2]:.2f} CPU-s/M)" for r in runs))
        batches = batches_of(args.gpus, args.ticks, start_ms)
        writers, writers_cpu = bench_writers(path, batches, args.rounds)
    rows = sum(len(b) for b in batches)
    pipe_rate, plain_rate = pipe_rows / pipe_s, rows / writers[NO_VIEWS]
    per_m = 1e6 / rows
    print(f"embedded pipeline, every rollup (first tick to last commit): {pipe_rows:,} GPU rows in {pipe_s:.2f} s", end="")
    print(f" = {pipe_rate:,.0f} rows/s; {pipe_cpu_s * 1e6 / pipe_rows:.2f} CPU-s per million rows (all threads)", end="")
    print(f"; fastest of {args.pipeline_rounds}")
    for label, spent in writers.items():
        rate = rows / spent
        print(f"{label}: {rows:,} rows in {spent:.2f} s = {rate:,.0f} rows/s ({rate / plain_rate:.2f} of no views)", end="")
        print(f"; {writers_cpu[label] * per_m:.2f} CPU-s per million rows; best of {args.rounds}")
    print(f"ratio pipeline / chDB insert without views: {pipe_rate / plain_rate:.2f} (CPU-seconds: ", end="")
    print(f"{writers_cpu[NO_VIEWS] * per_m / (pipe_cpu_s * 1e6 / pipe_rows):.2f}); load average {os.getloadavg()[0]:.2f}")
    print(f"ratio writer with stream rollups / with views on raw: {writers[VIEWS] / writers[STREAM]:.2f}x the rate")


if __name__ == "__main__":
    main()
