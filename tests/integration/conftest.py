"""Fixtures that start real components: a chDB store, Mosquitto, Apache Kafka (`tests.support.kafka_helpers`).

chDB opens one data path per process, so the whole test session shares one path and each
test that stores data gets its own database inside it (`store_dsn`). Commands that open
their own data dir run as subprocesses (`tests.support.cli.run_cli`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.support.kafka_helpers import kafka1, kafka3, kafka_clusters
from tests.support.kubelet_double import PodResourcesDouble
from tests.support.mosquitto import Mosquitto

__all__ = ["kafka1", "kafka3", "kafka_clusters"]  # Apache Kafka fixtures, for every test here


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def store_dsn(chdb_path: Path) -> str:
    return f"chdb://{chdb_path}?database=t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(store_dsn: str) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore.open(store_dsn)
    migrate(s)
    yield s
    s.command(f"DROP DATABASE IF EXISTS {store_dsn.rsplit('=', 1)[1]}")
    s.close()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of its own on a free loopback port, stopped after the test."""
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kubelet(tmp_path: Path) -> Iterator[PodResourcesDouble]:
    """The pod-resources gRPC double on a Unix socket (no kubelet runs here)."""
    double = PodResourcesDouble(tmp_path / "kubelet.sock")
    double.start()
    yield double
    double.stop()
