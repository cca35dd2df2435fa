"""Kafka → ClickHouse ingest rate, beside its parts measured on the same messages in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_kafka_ingest.py [--gpus 24000] [--ticks 10] [--nominal-gpus 20000]
        [--seconds 20] [--idle 3] [--brokers 1 3] [--freshness-partitions 4 ...] [--freshness-producer emit paced ...]
        [--freshness-only]

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
   `--freshness-producer emit paced ...` runs each in turn: `paced` records first what emit
   would send and publishes it at the sample times through gpufleet's transport
   (`paced_producer.py`), leaving the fleet's sampling and encoding off this machine.

The brokers share the machine's cores with the producer, ingest and everything else here;
ratios against the raw rates measured in the same run are the stable part.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
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

from collectors.agent import Agent
from collectors.base import SourceConfig, create_source
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame, frame_from_node_samples, node_samples_from_frame
from gpufleet.contract.schema import NodeSample
from gpufleet.contract.settings import KafkaSettings
from pipeline.ingest import Ingest
from pipeline.kafka import topics
from pipeline.kafka.decoder import decode_samples
from pipeline.kafka.producer import KafkaTransport
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


class RecordingTransport(KafkaTransport):
    """`KafkaTransport` that keeps what it would send, one entry per tick (a tick starts with
    its samples); it never connects."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(SETTINGS, bootstrap)
        self.ticks: list[list[Any]] = [[]]  # the first entry: what comes before the first tick (inventory)

    def publish_samples(self, frame: GpuFrame) -> None:
        self.ticks.append([])
        super().publish_samples(frame)

    def _enqueue(self, messages: list[Any]) -> None:
        self.ticks[-1].extend(messages)


def record_emit(bootstrap: str, gpus: int, seconds: int, start_ms: int) -> list[tuple[int, list[Any]]]:
    """What `gpufleet emit --gpus G --interval 1 --duration S` publishes from `start_ms`, message
    for message (its defaults: seed 0, scenario none), each tick to be sent at its sample time."""
    source = create_source(SourceConfig(kind="synthetic", gpus=gpus, start_ms=start_ms, interval_s=1.0, run_s=seconds))
    recorder = RecordingTransport(bootstrap)
    Agent(source, recorder, 1.0, speed=0).run(seconds, start_ms)
    recorder.close()
    return [(start_ms + max(0, i - 1) * 1000, messages) for i, messages in enumerate(recorder.ticks)]


def paced_producer(bootstrap: str, gpus: int, seconds: int, root: str) -> tuple[subprocess.Popen[bytes], int]:
    """`paced_producer.py` with a recording of `emit` that starts once the recording is done."""
    started = time.perf_counter()
    record_emit(bootstrap, min(gpus, 2000), 2, int(time.time() * 1000))
    per_tick_s = (time.perf_counter() - started) / 2 * gpus / min(gpus, 2000)
    start_ms = int((time.time() + per_tick_s * seconds * 1.5 + 5) * 1000)
    path = Path(root) / "paced.pickle"
    path.write_bytes(pickle.dumps(record_emit(bootstrap, gpus, seconds, start_ms)))
    if time.time() * 1000 > start_ms - 1000:
        raise SystemExit("recording the fleet took longer than planned; the paced run would start late")
    script = Path(__file__).with_name("paced_producer.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), bootstrap, str(path)], env=env, stdout=subprocess.PIPE)
    return proc, start_ms


def emit_producer(bootstrap: str, gpus: int, seconds: int) -> tuple[subprocess.Popen[bytes], int]:
    start_ms = int(time.time() * 1000)  # emit's clock starts after the group join, as a running fleet's would
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet", "emit", "--gpus", str(gpus), "--interval", "1", "--duration", str(seconds)],
        env={**os.environ, **cli_env(bootstrap)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    return proc, start_ms


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of running processes (the brokers), from /proc."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def freshness(
    cluster: KafkaCluster, store: ClickHouseStore, gpus: int, seconds: int, producer: str, root: str
) -> dict[str, float]:
    """A producer in its own process (as a fleet's collectors are) publishes `gpus` GPUs at 1 Hz
    for `seconds`: `gpufleet emit`, or (`paced`) a recording of what emit sends, handed to
    gpufleet's transport at each sample time. `Ingest` here, tuned and threaded as `gpufleet
    ingest` is, stores them, and a query after each committed delivery says which rows became
    visible. Also: the CPU seconds of this process (ingest and the query), the producer and the
    brokers over the run."""
    bootstrap = cluster.bootstrap
    sub = KafkaSubscription(SETTINGS, bootstrap, SubscriptionConfig(group=f"fresh-{time.time_ns()}"))
    locked = LockedStore(store)
    ingest = Ingest(sub, cast(Store, locked), overlap=ServiceOptions().overlap)
    while not sub.assigned:
        ingest.step(0.5)
    if producer == "paced":
        proc, start_ms = paced_producer(bootstrap, gpus, seconds, root)
    else:
        proc, start_ms = emit_producer(bootstrap, gpus, seconds)
    brokers = [n.proc.pid for n in cluster.nodes if n.proc is not None]
    while time.time() * 1000 < start_ms:
        ingest.step(0.1)
    ingest_cpu, brokers_cpu, before = time.process_time(), cpu_seconds(brokers), resource.getrusage(resource.RUSAGE_CHILDREN)
    seen: dict[int, int] = {}  # sample ts_ms -> rows of it visible so far
    lags: list[np.ndarray] = []
    quiet = 0
    while proc.poll() is None or quiet < 4 or sub.gathered_messages or ingest.busy:
        delivery = ingest.step(0.5)
        if delivery is not None and len(delivery.samples):
            lags.append(visible_lags(locked, start_ms, seen))
        quiet = 0 if delivery is not None or proc.poll() is None else quiet + 1
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "ingest_cpu_s": time.process_time() - ingest_cpu,
        "brokers_cpu_s": cpu_seconds(brokers) - brokers_cpu,
        "producer_cpu_s": children.ru_utime + children.ru_stime - before.ru_utime - before.ru_stime,
    }
    ingest.close()
    sub.close()
    out = proc.stdout.read() if proc.stdout else b""
    if proc.returncode != 0:
        raise SystemExit(f"the {producer} producer exited {proc.returncode}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    lag = np.concatenate(lags) if lags else np.zeros(1)
    return result | {
        "p50": float(np.percentile(lag, 50)),
        "p99": float(np.percentile(lag, 99)),
        "max": float(lag.max()),
        "rows": float(len(lag)),
        "deliveries": float(ingest.stats.deliveries),
        "dropped": float(summary.get("dropped_messages", 0)),
    }


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
        reset(cluster, SETTINGS)
        print(f"--- Apache Kafka, {brokers} broker(s), RF {SETTINGS.replication_factor}, "
              f"min.insync.replicas {SETTINGS.min_insync_replicas}, acks=all")  # fmt: skip
        if not args.freshness_only:
            drain(cluster, args, store, messages, root)
        for partitions in args.freshness_partitions:
            # empty topics (the freshness group must not start on a backlog), laid out for this run
            SETTINGS = SETTINGS.model_copy(update={"samples_partitions": partitions})
            for producer in args.freshness_producer:
                reset(cluster, SETTINGS)
                f = freshness(cluster, store, args.nominal_gpus, args.seconds, producer, root)
                print(f"freshness at {args.nominal_gpus:,} GPUs x 1 Hz, {partitions} sample partition(s), {producer} producer:"
                      f" p50 {f['p50']:.2f} s, p99 {f['p99']:.2f} s, max {f['max']:.2f} s ({f['rows']:,.0f} rows,"
                      f" {f['deliveries']:.0f} deliveries in {args.seconds} s; CPU-s: ingest {f['ingest_cpu_s']:.1f},"
                      f" producer {f['producer_cpu_s']:.1f}, brokers {f['brokers_cpu_s']:.1f};"
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
    parser.add_argument(
        "--freshness-producer",
        nargs="+",
        choices=["emit", "paced"],
        default=["emit"],
        help="who publishes in each freshness run: `gpufleet emit`, or `paced` (emit's messages recorded first,"
        " sent at their sample times: the fleet's sampling and encoding off this machine) (default: emit)",
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
