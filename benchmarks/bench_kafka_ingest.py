"""Kafka → ClickHouse ingest rate, beside its parts measured on the same messages in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_kafka_ingest.py [--gpus 24000] [--ticks 10] [--nominal-gpus 20000]
        [--seconds 20] [--idle 3] [--brokers 1 3] [--freshness-partitions 4 ...] [--freshness-only]

For each `--brokers` size, starts its own Apache Kafka cluster (the jars `make services`
fetched; KRaft nodes on free loopback ports: tests/support/kafka_cluster.py): one broker
with RF 1, three with RF 3 and min.insync.replicas 2; producers use acks=all with
idempotence. Its own chDB path. Per cluster:

1. produce `gpus × ticks` GPU rows as node messages (8 GPUs each) into gpufleet.samples.v1;
2. raw fetch: kafka-python (assign + batched poll) reads them all — the transport's ceiling;
3. decode alone: `decode_samples` as it is (metrics streamed into one buffer) vs issue 4's
   column build (`streamed=False`) vs pydantic + `frame_from_node_samples`, and Apache Arrow's
   JSON reader (`pyarrow.json.read_json`, explicit schema, parse only) on the same bytes;
4. raw insert: the same rows as frames straight into chDB with `insert_samples`;
5. the command: `gpufleet ingest` (a subprocess, its own chDB path) drains the pre-filled
   topic and exits `--idle` s after the last data; its stats line every 0.25 s, read as it is
   written, times the drain from the first fetched records to the last row stored (start-up,
   group join and idle wait left out);
6. in process: `KafkaSubscription` + `Ingest` until every row is stored, one change at a time
   (`LOOPS`: the loop as issue 17 found it, + the write thread, + the command's batch rules),
   each on a fresh incarnation of the topic;
7. freshness: `gpufleet emit` (a subprocess) at `--nominal-gpus` GPUs at 1 Hz for `--seconds`
   into an `Ingest` here, tuned and threaded as the command; after each committed delivery a
   query of the store says which rows became visible, and each row's lag is (first query that
   saw it − its sample timestamp): p50/p99. Once per `--freshness-partitions` count, each on
   topics laid out with that many sample partitions (default 4); `--freshness-only` skips 1-6.

The brokers share the machine's cores with the producer, ingest and everything else here;
ratios against the raw rates measured in the same run are the stable part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from storage_fleet import flags

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame, frame_from_node_samples, node_samples_from_frame
from gpufleet.contract.schema import NodeSample
from gpufleet.contract.settings import KafkaSettings
from pipeline.ingest import Ingest
from pipeline.kafka import topics
from pipeline.kafka.decoder import decode_samples
from pipeline.kafka.service import ServiceOptions
from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
from storage.base import Store
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from storage.registry import open_store
from tests.support.kafka_cluster import KafkaCluster
from tests.support.kafka_helpers import reset


def settings_for(brokers: int) -> KafkaSettings:
    replicas = min(3, brokers)
    return KafkaSettings(samples_partitions=4, events_partitions=1, inventory_partitions=1, facility_partitions=1,
                         deadletter_partitions=1, replication_factor=replicas, min_insync_replicas=min(2, replicas))  # fmt: skip


SETTINGS = settings_for(1)


def make_messages(gpus: int, ticks: int) -> list[tuple[bytes, bytes]]:
    start_ms = int(time.time()) * 1000 - ticks * 1000  # near now: the raw table's TTL keeps them
    fleet = SyntheticFleet(
        n_gpus=gpus, seed=1, scenario=load_scenario("default"), start_ms=start_ms, interval_s=1.0, run_s=ticks + 1
    )
    return [
        (m.node.encode(), m.model_dump_json().encode()) for _ in range(ticks) for m in node_samples_from_frame(fleet.tick()[0])
    ]


def produce(bootstrap: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="lz4", linger_ms=20, batch_size=512 * 1024,
                             acks="all", enable_idempotence=True)  # fmt: skip
    started = time.perf_counter()
    for key, value in messages:
        producer.send(topics.SAMPLES, key=key, value=value)
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return len(messages) / elapsed


def raw_fetch(bootstrap: str, expected: int) -> tuple[float, list[bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 << 20,
                             max_partition_fetch_bytes=16 << 20)  # fmt: skip
    consumer.assign([TopicPartition(topics.SAMPLES, p) for p in range(SETTINGS.samples_partitions)])
    consumer.seek_to_beginning()
    values: list[bytes] = []
    started = time.perf_counter()
    while len(values) < expected:
        for recs in consumer.poll(timeout_ms=1000, max_records=10_000).values():
            values.extend(r.value for r in recs)
    elapsed = time.perf_counter() - started
    consumer.close()
    return len(values) / elapsed, values


def decode_rates(values: list[bytes], batch: int = 5000) -> tuple[dict[str, float], list[GpuFrame]]:
    """rows/s of each decoder over the same values in `batch`-message deliveries (CPU time:
    the brokers and other work share these cores, and only this thread decodes)."""
    rates: dict[str, float] = {}
    frames: list[GpuFrame] = []
    for name, streamed in (("table", False), ("streamed", True)):
        frames = []
        started = time.process_time()
        for i in range(0, len(values), batch):
            frames.append(decode_samples(values[i : i + batch], streamed=streamed)[0])
        rates[name] = sum(len(f) for f in frames) / (time.process_time() - started)
    sample = values[:batch]
    started = time.process_time()
    rates["pydantic"] = len(frame_from_node_samples(NodeSample.model_validate_json(v) for v in sample)) / (
        time.process_time() - started
    )
    rates["arrow"] = arrow_parse_rate(sample)
    return rates, frames


def arrow_parse_rate(values: list[bytes]) -> float:
    """GPU rows/s of `pyarrow.json.read_json` alone (no checks, no frame) with the wire schema
    given explicitly: the columnar reader issue 17 proposed, measured on the same bytes."""
    # chDB's dependency, not the ingest's: only this comparison uses it
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.json as pj  # type: ignore[import-untyped]

    from gpufleet.contract.columns import METRIC_COLUMNS, TOPOLOGY_LABELS

    kinds = {np.bool_: pa.bool_(), np.uint64: pa.uint64()}
    gpu = pa.struct(
        [("gpu_index", pa.int64()), ("uuid", pa.string())] + [(m.name, kinds.get(m.dtype, pa.int64())) for m in METRIC_COLUMNS]
    )
    node = [(k, pa.string()) for k in TOPOLOGY_LABELS] + [("schema", pa.string()), ("ts_ms", pa.int64()), ("seq", pa.uint64())]
    options = pj.ParseOptions(explicit_schema=pa.schema([*node, ("gpus", pa.list_(gpu))]), unexpected_field_behavior="error")
    joined = pa.py_buffer(b"\n".join(values))
    started = time.process_time()
    table = pj.read_json(joined, read_options=pj.ReadOptions(block_size=4 << 20), parse_options=options)
    elapsed = time.process_time() - started  # includes Arrow's worker threads: the process's CPU
    return int(pa.compute.sum(pa.compute.list_value_length(table.column("gpus"))).as_py()) / elapsed


def cli_env(bootstrap: str) -> dict[str, str]:
    """The command's settings: this run's broker and topic layout (what `reset` created)."""
    names = ("samples", "events", "inventory", "facility", "deadletter")
    env = {f"GPUFLEET_KAFKA__{n.upper()}_PARTITIONS": str(getattr(SETTINGS, f"{n}_partitions")) for n in names}
    env |= {"GPUFLEET_KAFKA__REPLICATION_FACTOR": str(SETTINGS.replication_factor)}
    env |= {"GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS": str(SETTINGS.min_insync_replicas), "GPUFLEET_KAFKA__BOOTSTRAP": bootstrap}
    return env


def run_command(
    bootstrap: str, root: str, idle_s: float, interval_s: float = 0.25, extra: tuple[str, ...] = ()
) -> tuple[float, int, float, float]:
    """`gpufleet ingest` (fresh group and chDB path) on the topic as it is, until it exits idle.

    Its stats line every `interval_s` is read as it is written: the drain runs from the last
    line before the first fetched records (`gathered`) or stored rows to the first line that
    shows the final count, so start-up, group join and the idle wait before exit are left out
    (±1 interval at each end), and the first delivery's fetch, decode and insert are counted.
    Returns (drain seconds, rows stored, whole run in wall seconds, the command's CPU seconds).
    """
    ns = time.time_ns()
    args = ["ingest", "--store", f"chdb://{root}/cli-{ns}", "--group", f"cli-{ns}", "--exit-when-idle", str(idle_s), *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet", *args, "--stats-interval", str(interval_s)],
        env={**os.environ, **cli_env(bootstrap)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[tuple[float, int, bool]] = []  # (when the line arrived, rows stored by then, anything fetched yet)
    tail: list[str] = []
    for line in proc.stderr:
        if line.startswith("{") and '"rows_per_s"' in line:
            stats = json.loads(line)
            seen.append((time.perf_counter(), int(stats["rows"]), bool(stats["rows"] or stats["gathered"])))
        tail = [*tail[-20:], line]
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"gpufleet ingest exited {status}: {''.join(tail)}")
    proc.returncode = 0
    wall_s = time.perf_counter() - started
    rows = seen[-1][1] if seen else 0
    if not rows:
        return 0.0, 0, wall_s, 0.0
    first = next(i for i, (_, _, busy) in enumerate(seen) if busy)
    begin = seen[first - 1][0] if first else started
    end = min(t for t, n, _ in seen if n == rows)
    return end - begin, rows, wall_s, usage.ru_utime + usage.ru_stime


def raw_insert(store: ClickHouseStore, frames: list[GpuFrame]) -> tuple[float, float]:
    """Rows/s into gpu_samples (with the storage schema's materialized views) and into a plain
    copy of the table without views, same Native blocks: the difference is the views' cost."""
    from storage.native import encode_frame, frame_column_names

    store.insert_samples(frames[0].take(np.arange(min(len(frames[0]), 800))), f"bench-warm-{time.time_ns()}")
    store.command("TRUNCATE TABLE gpu_samples")
    store.command("CREATE TABLE IF NOT EXISTS bench_plain AS gpu_samples")
    rows = sum(len(f) for f in frames)
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        store.insert_samples(frame, f"bench-raw-{time.time_ns()}-{i}")
    with_views = rows / (time.perf_counter() - started)
    started = time.perf_counter()
    for frame in frames:
        block = (bytes(part) for part in encode_frame(frame))
        store.client.raw_insert("bench_plain", frame_column_names(), block, settings={"async_insert": 0}, fmt="Native")
    plain = rows / (time.perf_counter() - started)
    store.command("TRUNCATE TABLE gpu_samples")
    store.command("DROP TABLE bench_plain")
    return with_views, plain


# The loop as issue 17 found it (one thread; 5,000-message batches cut by max_wait alone),
# one change at a time, and what `gpufleet ingest` runs now (ServiceOptions, SubscriptionConfig).
LOOPS = {
    "serial, 5,000 msgs, max_wait only (before)": (False, SubscriptionConfig(max_batch_messages=5000, quiet_s=0)),
    "+ write thread": (True, SubscriptionConfig(max_batch_messages=5000, quiet_s=0)),
    "+ 20,000 msgs, quiet 0.1 s (the command's defaults)": (True, SubscriptionConfig()),
}


def end_to_end(
    cluster: KafkaCluster,
    store: ClickHouseStore,
    messages: list[tuple[bytes, bytes]],
    rows: int,
    overlap: bool,
    config: SubscriptionConfig,
) -> tuple[float, dict[str, float]]:
    """`KafkaSubscription` + `Ingest` in this process on a fresh incarnation of the topic (new
    topic id, so no token repeats an earlier run's and chDB skips nothing), from the group join
    on, until its `rows` (the valid ones) are stored: rows/s and CPU-s per million rows (every
    thread of this process, the brokers' not)."""
    reset(cluster, SETTINGS)
    produce(cluster.bootstrap, messages)
    config = replace(config, group=f"bench-{time.time_ns()}")
    sub = KafkaSubscription(SETTINGS, cluster.bootstrap, config)
    ingest = Ingest(sub, store, overlap=overlap)
    while not sub.assigned:  # the group join is not ingest work
        ingest.step(0.1)
    started, cpu = time.perf_counter(), time.process_time()
    insert_before = ingest.stats.insert_s
    deadline = time.monotonic() + 300
    while ingest.stats.rows < rows and time.monotonic() < deadline:
        ingest.step(0.1)
    if ingest.stats.rows < rows:
        raise SystemExit(f"in-process ingest stored {ingest.stats.rows:,} of {rows:,} rows in 300 s")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ingest.close()
    sub.close()
    parts = {
        "insert_share": (ingest.stats.insert_s - insert_before) / elapsed,
        "deliveries": ingest.stats.deliveries,
        "cpu_per_m": cpu / max(ingest.stats.rows, 1) * 1e6,
    }
    return ingest.stats.rows / elapsed, parts


class LockedStore:
    """The store with one lock around every call: the freshness query runs in this thread while
    the ingest's write thread inserts, and a chDB connection takes one statement at a time."""

    def __init__(self, inner: ClickHouseStore) -> None:
        self.inner = inner
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if not callable(value):
            return value

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return value(*args, **kwargs)

        return locked


def freshness(bootstrap: str, store: ClickHouseStore, gpus: int, seconds: int) -> tuple[float, float, float, int]:
    """`gpufleet emit` (its own process, as a fleet's collectors are) publishes `gpus` GPUs at
    1 Hz for `seconds`; `Ingest` here, tuned and threaded as `gpufleet ingest` is, stores them,
    and a query after each committed delivery says which rows became visible."""
    sub = KafkaSubscription(SETTINGS, bootstrap, SubscriptionConfig(group=f"fresh-{time.time_ns()}"))
    locked = LockedStore(store)
    ingest = Ingest(sub, cast(Store, locked), overlap=ServiceOptions().overlap)
    while not sub.assigned:
        ingest.step(0.5)
    start_ms = int(time.time() * 1000)  # emit's clock starts after the group join, as a running fleet's would
    emit = subprocess.Popen(
        [sys.executable, "-m", "gpufleet", "emit", "--gpus", str(gpus), "--interval", "1", "--duration", str(seconds)],
        env={**os.environ, **cli_env(bootstrap)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: dict[int, int] = {}  # sample ts_ms -> rows of it visible so far
    lags: list[np.ndarray] = []
    quiet = 0
    while emit.poll() is None or quiet < 4 or sub.gathered_messages or ingest.busy:
        delivery = ingest.step(0.5)
        if delivery is not None and len(delivery.samples):
            lags.append(visible_lags(locked, start_ms, seen))
        quiet = 0 if delivery is not None or emit.poll() is None else quiet + 1
    ingest.close()
    sub.close()
    if emit.returncode != 0:
        raise SystemExit(f"gpufleet emit exited {emit.returncode}")
    lag = np.concatenate(lags) if lags else np.zeros(1)
    return float(np.percentile(lag, 50)), float(np.percentile(lag, 99)), float(lag.max()), ingest.stats.deliveries


def visible_lags(store: Any, start_ms: int, seen: dict[int, int]) -> np.ndarray:
    """Ask the store which rows are visible now; each row not seen before lags (now − its ts)."""
    now_s = time.time()
    sql = (
        "SELECT toUnixTimestamp64Milli(ts) AS t, count() AS n FROM gpu_samples"
        " WHERE ts >= fromUnixTimestamp64Milli({start:Int64}) GROUP BY t"
    )
    rows = store.query(sql, {"start": start_ms}).rows
    lags = []
    for t, n in rows:
        new = int(n) - seen.get(int(t), 0)
        if new > 0:
            lags.append(np.full(new, now_s - int(t) / 1000))
            seen[int(t)] = int(n)
    return np.concatenate(lags) if lags else np.zeros(0)


def run(brokers: int, args: argparse.Namespace, store: ClickHouseStore, messages: list[tuple[bytes, bytes]], root: str) -> None:
    global SETTINGS
    SETTINGS = settings_for(brokers)
    cluster = KafkaCluster(Path(root) / f"kafka-{brokers}", brokers)
    try:
        cluster.start()
        bootstrap = cluster.bootstrap
        reset(cluster, SETTINGS)
        print(f"--- Apache Kafka, {brokers} broker(s), RF {SETTINGS.replication_factor}, "
              f"min.insync.replicas {SETTINGS.min_insync_replicas}, acks=all")  # fmt: skip
        if not args.freshness_only:
            drain(cluster, args, store, messages, root)
        for partitions in args.freshness_partitions:
            # empty topics (the freshness group must not start on a backlog), laid out for this run
            SETTINGS = SETTINGS.model_copy(update={"samples_partitions": partitions})
            reset(cluster, SETTINGS)
            p50, p99, worst, deliveries = freshness(bootstrap, store, args.nominal_gpus, args.seconds)
            print(f"freshness at {args.nominal_gpus:,} GPUs x 1 Hz, {partitions} sample partition(s): p50 {p50:.2f} s,"
                  f" p99 {p99:.2f} s, max {worst:.2f} s ({deliveries} deliveries in {args.seconds} s;"
                  f" load {os.getloadavg()[0]:.1f})")  # fmt: skip
    finally:
        cluster.close()


def drain(
    cluster: KafkaCluster, args: argparse.Namespace, store: ClickHouseStore, messages: list[tuple[bytes, bytes]], root: str
) -> None:
    """The stages and the command on a pre-filled samples topic."""
    bootstrap = cluster.bootstrap
    print(f"produce (kafka-python, lz4)      {produce(bootstrap, messages):>12,.0f} msg/s")
    fetch_msgs, values = raw_fetch(bootstrap, len(messages))
    fetch = fetch_msgs * 8
    print(f"raw fetch (kafka-python)         {fetch_msgs:>12,.0f} msg/s = {fetch:>10,.0f} rows/s")
    rates, frames = decode_rates(values)
    print(f"decode alone, streamed columns   {rates['streamed']:>12,.0f} rows/CPU-s "
          f"(issue 4's tuple table: {rates['table']:,.0f}, x{rates['streamed'] / rates['table']:.2f}; "
          f"pydantic per message: {rates['pydantic']:,.0f}; Arrow read_json parse alone: {rates['arrow']:,.0f})")  # fmt: skip
    insert, plain = raw_insert(store, frames)
    print(f"raw insert (chDB, Native block)  {insert:>12,.0f} rows/s   (same blocks, table without views: {plain:,.0f} rows/s)")
    rows = sum(len(f) for f in frames)
    # The command as it runs, then as the serial loop (`--no-write-thread`), alternating twice.
    for extra in ((), ("--no-write-thread",), (), ("--no-write-thread",)):
        drain_s, stored, wall_s, cpu_s = run_command(bootstrap, root, args.idle, extra=extra)
        command = stored / max(drain_s, 1e-9)
        name = "`gpufleet ingest` " + (" ".join(extra) or "(write thread)")
        print(f"{name:<43} drains topic {command:>10,.0f} rows/s   ({stored:,} of {rows:,} rows in {drain_s:.1f} s;"
              f" run {wall_s:.1f} s and {cpu_s:.1f} CPU-s with start-up and {args.idle:g} s idle;"
              f" vs raw fetch {command / fetch:.0%}; load {os.getloadavg()[0]:.1f})")  # fmt: skip
    serial = 1 / (1 / fetch + 1 / rates["streamed"] + 1 / insert)
    print(f"in process Subscription + Ingest, each on a fresh topic (serial sum of the parts: {serial:,.0f} rows/s):")
    for name, (overlap, config) in LOOPS.items():
        e2e, parts = end_to_end(cluster, store, messages, rows, overlap, config)
        print(f"  {name:<52} {e2e:>10,.0f} rows/s  ({parts['cpu_per_m']:.1f} CPU-s per M rows in this process;"
              f" insert {parts['insert_share']:.0%} of the time, {parts['deliveries']:.0f} deliveries;"
              f" vs raw fetch {e2e / fetch:.0%}; load {os.getloadavg()[0]:.1f})")  # fmt: skip


def main() -> None:
    parser = flags(__doc__, gpus=24_000, ticks=10, nominal_gpus=20_000, seconds=20, idle=3.0)
    parser.add_argument("--brokers", type=int, nargs="+", default=[1, 3], help="cluster sizes to run on (default: 1 3)")
    parser.add_argument(
        "--freshness-partitions", type=int, nargs="+", default=[4], help="sample partitions of each freshness run (default: 4)"
    )
    parser.add_argument("--freshness-only", action="store_true", help="skip the drain stages and the command")
    args = parser.parse_args()
    import crc32c  # noqa: F401  (kafka-python is 16x slower without it: pipeline-libraries.md §8)

    root = tempfile.mkdtemp(prefix="bench-kafka-")
    store = open_store(f"chdb://{root}/chdb")
    migrate(store)
    try:
        messages = make_messages(args.gpus, args.ticks)
        rows = len(messages) * 8
        print(f"{len(messages):,} node messages, {rows:,} GPU rows, {np.mean([len(v) for _, v in messages]):,.0f} B each (JSON)")
        for brokers in args.brokers:
            run(brokers, args, store, messages, root)
        print(f"machine: {os.cpu_count()} CPUs")
    finally:
        store.close()


if __name__ == "__main__":
    main()
