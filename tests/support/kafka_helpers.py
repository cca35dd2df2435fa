"""Apache Kafka for tests (`tests.support.kafka_cluster`): fixtures and small client helpers.

- `kafka1`: one single-node broker; `kafka3`: a 3-node cluster. Both come from one session
  fixture, `kafka_clusters`, which starts a cluster of each size on first use and keeps it
  for the session (a JVM costs seconds to start). Before each test any stopped node is
  started again, every topic and consumer group is deleted and the gpufleet topics are
  created again (RF 1 on one node; RF 3 and `min.insync.replicas=2` on three, the production
  defaults of `KafkaSettings`), so the fixed topic names never carry data from one test
  into another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka.topics import create_topics, topic_specs
from tests.support.kafka_cluster import KafkaCluster, free_port

__all__ = ["KafkaCluster", "free_port"]

SMALL_TOPICS = {
    "GPUFLEET_KAFKA__SAMPLES_PARTITIONS": "4",
    "GPUFLEET_KAFKA__EVENTS_PARTITIONS": "2",
    "GPUFLEET_KAFKA__INVENTORY_PARTITIONS": "2",
    "GPUFLEET_KAFKA__FACILITY_PARTITIONS": "1",
    "GPUFLEET_KAFKA__DEADLETTER_PARTITIONS": "1",
    "GPUFLEET_KAFKA__SESSION_TIMEOUT_MS": "6000",
}


def kafka_settings(replicas: int = 1) -> KafkaSettings:
    """The test topics: few partitions; RF 1 on the single broker, RF 3 + min ISR 2 on `kafka3`."""
    return KafkaSettings(
        samples_partitions=4,
        events_partitions=2,
        inventory_partitions=2,
        facility_partitions=1,
        deadletter_partitions=1,
        replication_factor=replicas,
        min_insync_replicas=min(2, replicas),
    )


def reset(cluster: KafkaCluster, settings: KafkaSettings) -> None:
    """Delete every topic and consumer group, then create the gpufleet topics from `settings`."""
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15_000)
    try:
        groups = [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
        if groups:
            admin.delete_groups(groups)
        names = [t for t in admin.list_topics() if not t.startswith("__")]
        if names:
            admin.delete_topics(names, timeout_ms=15_000)
        deadline = time.monotonic() + 30
        while any(not t.startswith("__") for t in admin.list_topics()):
            assert time.monotonic() < deadline, "topics not deleted within 30 s"
            time.sleep(0.1)
    finally:
        admin.close()
    create_topics(settings, cluster.bootstrap)
    _wait_for_topic_metadata(cluster, {spec.name: spec.partitions for spec in topic_specs(settings)})


def _wait_for_topic_metadata(cluster: KafkaCluster, partitions: dict[str, int], timeout_s: float = 60.0) -> None:
    """Until every running node's metadata has each topic with a leader for every partition.

    A group that forms before a node knows the topics fresh from `reset` gets an empty
    assignment from its leader ("No partition metadata for topic …"): seen on the 3-node
    cluster right after a reset, where a member then stored nothing for the 120 s a test
    waits. This removes the brokers' side of that race only (docs/kafka.md, "Fixtures").
    """
    deadline = time.monotonic() + timeout_s
    waiting = [n for n in cluster.nodes if n.running]
    while waiting:
        waiting = [n for n in waiting if not _has_topics(n.address, partitions)]
        if waiting:
            assert time.monotonic() < deadline, f"nodes {[n.node_id for n in waiting]} lack the topics after {timeout_s} s"
            time.sleep(0.2)


def _has_topics(address: str, partitions: dict[str, int]) -> bool:
    try:
        admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=5_000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(partitions))}
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
    return all(
        (t := described.get(name)) is not None
        and not t.get("error_code")
        and len(t["partitions"]) == count
        and all(p["leader_id"] >= 0 for p in t["partitions"])
        for name, count in partitions.items()
    )


class KafkaClusters:
    """The session's clusters, one per size, each started on first use and kept to the end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._started: dict[int, KafkaCluster] = {}

    def fresh(self, size: int) -> KafkaCluster:
        """The `size`-node cluster, every node running, emptied, with fresh gpufleet topics
        (RF = size, at most 3; min ISR 2 on three nodes)."""
        cluster = self._started.get(size)
        if cluster is None:
            cluster = self._started[size] = KafkaCluster(self._tmp.mktemp(f"kafka{size}"), size)
            cluster.start()  # a node that cannot start fails the test; close() still stops the others
        cluster.start_stopped()
        reset(cluster, kafka_settings(replicas=min(size, 3)))
        return cluster

    def close(self) -> None:
        for cluster in self._started.values():
            cluster.close()


@pytest.fixture(scope="session")
def kafka_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaClusters]:
    clusters = KafkaClusters(tmp_path_factory)
    try:
        yield clusters
    finally:
        clusters.close()


@pytest.fixture
def kafka1(kafka_clusters: KafkaClusters) -> KafkaCluster:
    """The session's single broker, emptied, with fresh gpufleet topics (RF 1)."""
    return kafka_clusters.fresh(1)


@pytest.fixture
def kafka3(kafka_clusters: KafkaClusters) -> KafkaCluster:
    """The session's 3-node cluster, every node running, emptied, fresh topics (RF 3, min ISR 2)."""
    return kafka_clusters.fresh(3)


def cli_env(cluster: KafkaCluster, **extra: str) -> dict[str, str]:
    replicas = "3" if cluster.size >= 3 else "1"
    return {
        **SMALL_TOPICS,
        "GPUFLEET_KAFKA__BOOTSTRAP": cluster.bootstrap,
        "GPUFLEET_KAFKA__REPLICATION_FACTOR": replicas,
        "GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS": "2" if replicas == "3" else "1",
        **extra,
    }


@dataclass
class Proc:
    """A `gpufleet` process in the background, its output in files."""

    popen: subprocess.Popen[str]
    out: Path
    err: Path

    def wait(self, timeout_s: float) -> int:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            pytest.fail(f"{self.popen.args!r} still running after {timeout_s} s; stderr: {self.err.read_text()[-2000:]}")

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def stacks(self, wait_s: float = 1.0) -> str:
        """Every thread's stack, as the running process writes it on SIGUSR1 (`gpufleet` registers
        faulthandler for it): where a process that stopped making progress is waiting. Empty if
        it has exited or wrote nothing within `wait_s`."""
        if self.popen.poll() is not None:
            return ""
        before = len(self.stderr())
        self.popen.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and len(self.stderr()) == before:
            time.sleep(0.05)
        time.sleep(0.2)  # the dump is written thread by thread
        return self.stderr()[before:]


def gpufleet(*args: str, env: dict[str, str], cwd: Path) -> Proc:
    """`gpufleet ARGS` as a background process (stdout/stderr to files in `cwd`)."""
    stem = cwd / f"{args[0]}-{time.monotonic_ns()}"
    out, err = stem.with_suffix(".out"), stem.with_suffix(".err")
    with out.open("w") as o, err.open("w") as e:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gpufleet", *args], cwd=cwd, env={**os.environ, **env}, stdout=o, stderr=e, text=True
        )
    return Proc(popen, out, err)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, compression_type="lz4", linger_ms=5, max_request_size=4 * 1024 * 1024, acks="all"
    )
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()


def produce_librdkafka(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Produce as a third-party producer does: librdkafka (`confluent-kafka`), the C client
    most non-Python producers wrap; idempotent, acks=all, lz4, in order per key."""
    from confluent_kafka import KafkaException, Producer

    failed: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    config = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "compression.type": "lz4"}
    producer = Producer({**config, "linger.ms": 5, "message.max.bytes": 4 * 1024 * 1024})
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:  # its local queue is full: let it send
                producer.poll(0.1)
            except KafkaException as exc:
                raise AssertionError(f"librdkafka refused a message: {exc}") from None
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not failed, f"librdkafka: {left} messages not delivered, errors {failed[:3]}"


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record of `topic`: assign all partitions, read from the start up to the end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = {tp: int(o) for tp, o in consumer.end_offsets(tps).items()}
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"could not read {topic} to its end offsets {ends} in {timeout_s} s"
            for recs in consumer.poll(timeout_ms=200).values():
                records.extend(recs)
        return records
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Log end offset of each partition of `topic` (the high watermark: what consumers can read)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        return {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()
