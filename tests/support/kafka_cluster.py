"""Apache Kafka brokers for the tests: KRaft nodes (broker + controller in one JVM) on free loopback ports.

The jars come from `scripts/install-test-services` (Maven Central, into the cache folder,
before the tests run); nothing is downloaded here. Each node: `kafka.tools.StorageTool
format`, then `kafka.Kafka server.properties` with a small heap and a JVM tuned for a fast
start; ready when a metadata request sees every node of the cluster unfenced; stopped by
PID (SIGTERM, then SIGKILL). Logs go to the node's folder under the test's tmp dir.
A broker that cannot start fails the test: there is no skip, in CI or anywhere else.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

KAFKA_VERSION = "4.4.0"  # the version scripts/install-test-services fetches
# Serial GC, C1 only, small stacks: a broker JVM starts in seconds on two shared cores.
JVM_OPTS = ["-Xms64m", "-Xmx320m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Djava.awt.headless=true"]
_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = info
"""


def kafka_libs() -> Path:
    cache = Path(os.environ.get("GPUFLEET_CACHE_DIR") or Path.home() / ".cache" / "gpufleet")
    libs = cache / f"kafka-{KAFKA_VERSION}" / "libs"
    if not (libs / ".complete").exists():
        pytest.fail(f"no Apache Kafka {KAFKA_VERSION} jars in {libs}: run `make services` (scripts/install-test-services)")
    return libs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KafkaNode:
    """One KRaft node; `kill()`/`stop()` + `start()` is a broker restart on the same ports and log."""

    def __init__(self, root: Path, node_id: int) -> None:
        self.node_id = node_id
        self.port = free_port()
        self.controller_port = free_port()
        self.dir = root / f"node-{node_id}"
        self.data = self.dir / "data"
        self.config_path = self.dir / "server.properties"
        self.log_path = self.dir / "kafka.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, voters: str, size: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        rf, isr = min(3, size), min(2, size)
        props = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data,
            "auto.create.topics.enable": "false",
            "num.partitions": 1,
            "default.replication.factor": rf,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 4,  # 50 by default: seconds of work at the first commit
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": 2,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": 0,
            "group.min.session.timeout.ms": 1000,  # the crash tests use 3 s sessions (default minimum: 6 s)
            # A dead broker is fenced (and leaves the ISRs) within seconds, not the 9 s / 30 s defaults.
            "broker.session.timeout.ms": 4000,
            "broker.heartbeat.interval.ms": 1000,
            "replica.lag.time.max.ms": 8000,
            "file.delete.delay.ms": 1000,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
            "log.cleaner.threads": 1,
            "num.recovery.threads.per.data.dir": 1,
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j2.properties").write_text(_LOG4J2)

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", *JVM_OPTS, f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                "-cp", f"{kafka_libs()}/*", main, *args]  # fmt: skip

    def format(self, cluster_id: str) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.config_path)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        assert not self.running, f"node {self.node_id} is running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self._java("kafka.Kafka", str(self.config_path)), stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: the crash case (what was not fsynced is recovered from the replicas)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (controlled shutdown: leadership moves first), SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def random_cluster_id() -> str:
    """A KRaft cluster id as Kafka's `Uuid.randomUuid` makes one: 22 URL-safe base64 characters,
    never starting with "-" (1 in 64 uuid4s would, and StorageTool's argument parser then reads
    `-t -…` as a missing value: a CI run's fixture failed on "No readable meta.properties")."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaCluster:
    """`size` combined nodes, every one a controller voter; `bootstrap` lists all of them."""

    def __init__(self, root: Path, size: int) -> None:
        self.size = size
        self.nodes = [KafkaNode(root, i + 1) for i in range(size)]
        self.bootstrap = ",".join(n.address for n in self.nodes)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.write_config(voters, size)
        self.cluster_id = random_cluster_id()

    def start(self, timeout_s: float = 120.0) -> None:
        formats = [n.format(self.cluster_id) for n in self.nodes]  # in parallel: a JVM each
        for node, proc in zip(self.nodes, formats, strict=True):
            # StorageTool can print its usage and still exit 0: the formatted directory is the proof
            if proc.wait(timeout=120) != 0 or not any(node.dir.rglob("meta.properties")):
                pytest.fail(f"kafka storage format failed for node {node.node_id}; see {node.log_path}")
        for node in self.nodes:
            node.start()
        self.wait_ready(timeout_s)

    @property
    def running_bootstrap(self) -> str:
        """The running nodes only: an admin client bootstrapped from a dead node may send it its request."""
        return ",".join(n.address for n in self.nodes if n.running)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def start_stopped(self, timeout_s: float = 120.0) -> None:
        """Start every node that is not running and wait until all are in the cluster again."""
        for node in self.nodes:
            if not node.running:
                node.start()
        self.wait_ready(timeout_s)

    def live_brokers(self, via: KafkaNode) -> set[int]:
        """Node ids that `via` reports registered and unfenced (a metadata request to that node only)."""
        try:
            admin = KafkaAdminClient(bootstrap_servers=via.address, request_timeout_ms=3000, bootstrap_timeout_ms=3000)
        except (KafkaError, OSError, ValueError):
            return set()
        try:
            described = admin.describe_cluster()
            return {int(b["broker_id"]) for b in described["brokers"] if not b.get("is_fenced")}
        except (KafkaError, OSError):
            return set()
        finally:
            admin.close()

    def wait_ready(self, timeout_s: float) -> None:
        """Until every running node answers a metadata request that lists all running nodes unfenced."""
        deadline = time.monotonic() + timeout_s
        running = [n for n in self.nodes if n.running]
        want = {n.node_id for n in running}
        waiting = list(running)
        while waiting and time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    pytest.fail(f"kafka node {node.node_id} exited with {node.proc.returncode}; see {node.log_path}")
            waiting = [n for n in waiting if not want <= self.live_brokers(n)]
            if waiting:
                time.sleep(0.3)
        if waiting:
            pytest.fail(f"kafka nodes {[n.node_id for n in waiting]} not ready within {timeout_s} s; see {waiting[0].log_path}")

    def wait_fenced(self, node_id: int, timeout_s: float = 30.0) -> None:
        """Until the running nodes no longer list `node_id` as a live broker (it was stopped or killed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            views = [self.live_brokers(n) for n in self.nodes if n.running]
            if views and all(v and node_id not in v for v in views):
                return
            time.sleep(0.3)
        pytest.fail(f"kafka node {node_id} still listed as live after {timeout_s} s")

    def close(self) -> None:
        for node in self.nodes:
            node.kill()  # the data dir goes with the tmp dir; a clean shutdown would only cost time
