"""Cost model from measurements: CPU-seconds per million GPU rows per ingest stage, and the
cores a fleet needs at 1 Hz.

    PYTHONPATH=. .venv/bin/python benchmarks/cost_model.py [--gpus 24000] [--ticks 10] [--repeat 3] [--settle 5]
        [--batch-messages 5000] [--no-kafka]

Every stage runs on the same rows (a synthetic fleet, `default` scenario, node messages of 8
GPUs encoded as the collector encodes them), in deliveries of `--batch-messages` (5,000:
what one partition of a 12-partition topic gathers in 2.4 s at 200,000 GPUs, 1 Hz;
`gpufleet ingest` fills up to 20,000 when it is behind, docs/kafka.md "Batch size"), and is
timed with `time.process_time()` of this process, which counts every thread (kafka-python's,
chDB's), so the figure is CPU spent, not wall time on a shared machine:

1. produce: the collector side's `KafkaProducer` (lz4, acks=all, idempotent), for scale;
2. broker: the Kafka JVM's CPU (utime + stime from /proc) while taking the produce and the
   fetch (one broker, RF 1: multiply by the replication factor for followers);
3. fetch: kafka-python `poll` of every message (assign, batched, crc32c, lz4);
4. decode: `decode_samples` without its frame checks (msgspec, then the metric columns);
5. frame checks: `check_frame` (bounds, power vs limit, duplicate GPU index);
6. Native encode: `storage.native.encode_frame`, the bytes the insert sends;
7. store insert: `insert_samples` into embedded chDB with every rollup on this branch's
   schema, less the Native encode (it includes it), and the store's background work (merges)
   during `--settle` seconds after the last insert.

Best of `--repeat` runs per stage (the least-disturbed). The commit is printed with the
figures: the rollup insert path changes between commits, re-run after merging.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from storage_fleet import flags

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame, check_frame
from pipeline.kafka import topics
from pipeline.kafka.codec import encode_node_samples
from pipeline.kafka.decoder import decode_samples
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from storage.native import encode_frame
from storage.registry import open_store

BATCH_MESSAGES = 5000  # the figures in docs/operations.md; `gpufleet ingest` fills up to 20,000 when behind
FLEETS = (200_000, 1_000_000)


def messages(gpus: int, ticks: int) -> list[tuple[bytes, bytes]]:
    start_ms = (int(time.time()) - ticks) * 1000  # ends now: the raw table's TTL keeps it
    fleet = SyntheticFleet(gpus, 1, load_scenario("default"), start_ms, 1.0, ticks + 1.0)
    return [(key, value) for _ in range(ticks) for key, value, _ in encode_node_samples(fleet.tick()[0])]


def cpu(fn: Callable[[], object], repeat: int) -> float:
    """Least process CPU seconds of `repeat` calls of `fn`."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def jvm_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def kafka_stages(pairs: list[tuple[bytes, bytes]], root: Path, repeat: int) -> dict[str, float]:
    """CPU seconds of producing and of fetching `pairs`, client side and broker side."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from tests.support.kafka_cluster import KafkaCluster
    from tests.support.kafka_helpers import kafka_settings, reset

    settings = kafka_settings(replicas=1)
    cluster = KafkaCluster(root / "kafka", 1)
    try:
        cluster.start()
        reset(cluster, settings)
        proc = cluster.nodes[0].proc
        assert proc is not None
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, compression_type="lz4", linger_ms=20,
                                 batch_size=512 * 1024, acks="all", enable_idempotence=True)  # fmt: skip
        for key, value in pairs[:2000]:  # warm the JVM's JIT on another topic: steady state, not start-up
            producer.send(topics.EVENTS, key=key, value=value)
        producer.flush()
        jvm = jvm_cpu_s(proc.pid)

        def produce() -> None:
            for key, value in pairs:
                producer.send(topics.SAMPLES, key=key, value=value)
            producer.flush()

        produce_s = cpu(produce, 1)
        producer.close()
        broker_produce_s = jvm_cpu_s(proc.pid) - jvm
        consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, enable_auto_commit=False, fetch_max_bytes=64 << 20,
                                 max_partition_fetch_bytes=16 << 20)  # fmt: skip
        consumer.assign([TopicPartition(topics.SAMPLES, p) for p in range(settings.samples_partitions)])

        def fetch() -> None:
            consumer.seek_to_beginning()
            got = 0
            while got < len(pairs):
                got += sum(len(r) for r in consumer.poll(timeout_ms=1000, max_records=10_000).values())

        jvm = jvm_cpu_s(proc.pid)
        fetch_s = cpu(fetch, repeat)
        broker_fetch_s = (jvm_cpu_s(proc.pid) - jvm) / repeat
        consumer.close()
    finally:
        cluster.close()
    return {"produce": produce_s, "broker": broker_produce_s + broker_fetch_s, "fetch": fetch_s}


def store_stages(frames: list[GpuFrame], root: Path, repeat: int, settle_s: float) -> dict[str, float]:
    store: ClickHouseStore = open_store(f"chdb://{root}/chdb")
    migrate(store)
    store.insert_samples(frames[0].take(np.arange(min(800, len(frames[0])))), f"warm-{time.time_ns()}")
    encode_s = cpu(lambda: [[bytes(p) for p in encode_frame(f)] for f in frames], repeat)
    best, background = float("inf"), 0.0
    for attempt in range(repeat):
        store.command("TRUNCATE TABLE gpu_samples")
        started = time.process_time()
        for i, frame in enumerate(frames):
            store.insert_samples(frame, f"cost-{attempt}-{i}-{time.time_ns()}")
        spent = time.process_time() - started
        if spent < best:
            best = spent
            started = time.process_time()
            time.sleep(settle_s)
            background = time.process_time() - started
    store.close()
    return {"encode": encode_s, "insert": max(best - encode_s, 0.0), "background": background}


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (+ uncommitted changes)" if dirty.strip() else "")


def main() -> None:
    parser = flags(__doc__, gpus=24_000, ticks=10, repeat=3, settle=5.0, batch_messages=BATCH_MESSAGES)
    parser.add_argument("--no-kafka", action="store_true", help="skip produce/broker/fetch (no broker started)")
    args = parser.parse_args()
    import crc32c  # noqa: F401  (kafka-python's CRC in C: without it fetch costs 16x)

    root = Path(tempfile.mkdtemp(prefix="cost-model-"))
    atexit.register(shutil.rmtree, root, True)  # a broker log and a chDB store: hundreds of MB
    pairs = messages(args.gpus, args.ticks)
    values = [v for _, v in pairs]
    size = args.batch_messages
    batches = [values[i : i + size] for i in range(0, len(values), size)]
    frames = [decode_samples(b)[0] for b in batches]
    rows = sum(len(f) for f in frames)
    spent: dict[str, float] = {} if args.no_kafka else kafka_stages(pairs, root, args.repeat)
    decode_all = cpu(lambda: [decode_samples(b) for b in batches], args.repeat)
    spent["checks"] = cpu(lambda: [check_frame(f) for f in frames], args.repeat)
    spent["decode"] = max(decode_all - spent["checks"], 0.0)
    spent |= store_stages(frames, root, args.repeat, args.settle)

    names = {
        "produce": ("produce (collector side, kafka-python)", "collector"),
        "broker": ("Kafka broker: take produce + serve fetch, RF 1", "broker"),
        "fetch": ("fetch (kafka-python poll)", "ingest"),
        "decode": ("decode (msgspec + metric columns)", "ingest"),
        "checks": ("frame checks (check_frame)", "ingest"),
        "encode": ("Native encode", "ingest"),
        "insert": ("store insert incl. rollups (chDB)", "store"),
        "background": (f"store background, {args.settle:g} s after", "store"),
    }
    print(f"{len(pairs):,} node messages, {rows:,} GPU rows, {np.mean([len(v) for v in values]):,.0f} B each; "
          f"in deliveries of {size:,} messages; commit {commit()}; {os.cpu_count()} CPUs; best of {args.repeat}")  # fmt: skip
    header = f"{'stage':<48} {'where':<9} {'CPU-s/M rows':>12} " + " ".join(f"{f'cores @ {n:,}':>17}" for n in FLEETS)
    print(header)
    per_m = {k: v / rows * 1e6 for k, v in spent.items()}
    for key, (label, where) in names.items():
        if key in per_m:
            print(f"{label:<48} {where:<9} {per_m[key]:>12.2f} " + " ".join(f"{per_m[key] * n / 1e6:>17.2f}" for n in FLEETS))
    for where in ("ingest", "store", "broker"):
        if not any(names[k][1] == where for k in per_m):
            continue  # --no-kafka: no broker figure, not a zero one
        total = sum(v for k, v in per_m.items() if names[k][1] == where)
        print(f"{'total ' + where:<48} {'':<9} {total:>12.2f} " + " ".join(f"{total * n / 1e6:>17.2f}" for n in FLEETS))
    python = sum(per_m[k] for k in ("fetch", "decode", "checks", "encode") if k in per_m)
    for n in FLEETS:
        # The Python stages hold the GIL: one ingest process gives them at most one core.
        print(f"at {n:,} GPUs: ingest processes needed (Python stages <= 1 core each): {int(np.ceil(python * n / 1e6))}")


if __name__ == "__main__":
    main()
