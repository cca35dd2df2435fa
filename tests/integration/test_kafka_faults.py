"""Outages on one Apache Kafka broker: ingest killed, store failing. Delayed, never lost or doubled.

- crash safety: `gpufleet ingest` SIGKILLed at random points and, on purpose, between the
  insert and the offset commit; restarted each time; the store ends with every row once.
- store outage: writes fail for a while; nothing is committed meanwhile, nothing is lost.

Broker faults (leader loss, rolling restart, the whole cluster down) run on the 3-node
cluster: test_kafka_cluster_faults.py.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gpufleet.contract.errors import TransientError
from gpufleet.contract.frame import GpuFrame
from pipeline.ingest import Backoff, Ingest
from pipeline.kafka import topics
from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
from storage.clickhouse import ClickHouseStore
from tests.integration.test_kafka_pipeline import _valid_messages, emit_summary, stored_keys
from tests.support.kafka_helpers import KafkaCluster, cli_env, committed, free_port, gpufleet, kafka_settings, produce, read_topic


def test_sigkill_at_random_points_and_between_insert_and_commit(kafka1: KafkaCluster, tmp_path: Path) -> None:
    env = cli_env(kafka1)
    emit = gpufleet(
        "emit", "--gpus", "64", "--interval", "0.02", "--duration", "2", "--stats-interval", "0", env=env, cwd=tmp_path
    )
    assert emit.wait(60) == 0
    rows = emit_summary(emit)["sent_rows"]
    assert rows == 64 * 100
    data = f"chdb://{tmp_path / 'data'}"
    # Small batches: many insert/commit cycles, so a random kill lands inside the work.
    args = ("ingest", "--store", data, "--max-batch-messages", "16", "--max-wait", "0.2", "--stats-interval", "0")
    env["GPUFLEET_KAFKA__SESSION_TIMEOUT_MS"] = "3000"  # a killed member leaves the group sooner: faster restarts
    rng = random.Random(4)
    kinds = ["random", "before_commit", "random", "before_commit", "random"]
    for kind in kinds:
        if kind == "before_commit":
            proc = gpufleet(*args, env={**env, "GPUFLEET_FAILPOINT": f"kill_before_commit:{rng.randint(2, 6)}"}, cwd=tmp_path)
            assert proc.wait(60) == -signal.SIGKILL, proc.stderr()
        else:
            port = free_port()
            proc = gpufleet(*args, "--metrics-port", str(port), env=env, cwd=tmp_path)
            # Joining takes seconds (a killed member holds the group until its session ends):
            # kill once this one is storing rows, at a random moment of its work.
            assert _wait_until(partial(_storing, port), 60, 0.1), proc.stderr()
            time.sleep(rng.uniform(0.0, 0.8))
            proc.popen.kill()
            assert proc.wait(10) == -signal.SIGKILL
    final = gpufleet(*args, "--exit-when-idle", "6", env=env, cwd=tmp_path)
    assert final.wait(120) == 0, final.stderr()
    keys = stored_keys(tmp_path / "data")
    assert len(set(keys)) == rows, "rows lost"
    assert len(keys) == rows, "rows stored twice"


def _metric(port: int, name: str) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(values) if values else None


def _storing(port: int) -> bool:
    return (_metric(port, "gpufleet_ingest_rows_total") or 0) > 0


def _wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return False


class FailingStore:
    """The real store, with sample inserts refused (TransientError) while `failing` is set."""

    def __init__(self, inner: ClickHouseStore) -> None:
        self.inner = inner
        self.failing = threading.Event()
        self.refused = 0

    def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int:
        if self.failing.is_set():
            self.refused += 1
            raise TransientError("store down (test)")
        return self.inner.insert_samples(frame, dedup_token)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_store_outage_commits_nothing_then_stores_everything_once(kafka1: KafkaCluster, store: ClickHouseStore) -> None:
    messages = _valid_messages(gpus=64, ticks=25)  # 200 messages, 1,600 rows
    produce(kafka1.bootstrap, topics.SAMPLES, messages)
    failing = FailingStore(store)
    failing.failing.set()
    config = SubscriptionConfig(group="store-outage", max_batch_messages=20, max_wait_s=0.2)
    sub = KafkaSubscription(kafka_settings(), kafka1.bootstrap, config)
    ingest = Ingest(sub, failing, Backoff(first_s=0.1, max_s=0.5))  # type: ignore[arg-type]
    worker = threading.Thread(target=ingest.run, daemon=True)
    worker.start()
    try:
        assert _wait_until(lambda: failing.refused >= 5, 30), "the store was never tried"
        time.sleep(2)
        assert sub.gathered_messages <= 4 * config.max_batch_messages  # bounded: nothing fetched while paused
        assert set(committed(kafka1.bootstrap, "store-outage", topics.SAMPLES, 4).values()) == {None}
        assert store.query("SELECT count() FROM gpu_samples").rows == [(0,)]
        failing.failing.clear()
        assert _wait_until(lambda: ingest.stats.rows >= 1600, 60, 0.2), ingest.stats
        time.sleep(1)
    finally:
        ingest.stop()
        worker.join(timeout=30)
    ends: dict[int, int] = {}
    for r in read_topic(kafka1.bootstrap, topics.SAMPLES):
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    sub.close()
    assert store.query("SELECT count(), uniqExact(node, gpu_index, ts) FROM gpu_samples").rows == [(1600, 1600)]
    assert {p: o for p, o in committed(kafka1.bootstrap, "store-outage", topics.SAMPLES, 4).items() if p in ends} == ends
