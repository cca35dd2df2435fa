"""A rebalance while the store is failing, on Apache Kafka: the member that lost a partition
neither stores nor commits its in-flight range; the new owner repeats that range exactly
(the range journal) and nothing is stored twice or committed backwards.

Then the same with the write thread: a write in flight when the rebalance begins is finished
and committed before the partition moves.

Two members in this process, each with its own store (two databases on the session's chDB
path: the union is what counts). Static instance ids fix who gets what: the range assignor
gives the first sorted id partitions 0-1 of the samples topic, so the member that joins
second takes partition 0, the one the first member holds in flight.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from gpufleet.contract.frame import GpuFrame
from pipeline.ingest import Backoff, Ingest
from pipeline.kafka import topics
from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.integration.test_kafka_faults import FailingStore, _wait_until
from tests.integration.test_kafka_pipeline import _valid_messages
from tests.support.kafka_helpers import KafkaCluster, committed, kafka_settings


@pytest.fixture
def other_store(chdb_path: Path) -> Iterator[ClickHouseStore]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    s = ClickHouseStore.open(f"chdb://{chdb_path}?database={database}")
    migrate(s)
    yield s
    s.command(f"DROP DATABASE IF EXISTS {database}")
    s.close()


def _count(store: ClickHouseStore) -> tuple[int, int]:
    rows, distinct = store.query("SELECT count(), uniqExact(node, gpu_index, ts) FROM gpu_samples").rows[0]
    return int(rows), int(distinct)


def _stop(workers: list[threading.Thread], ingests: list[Ingest], subscriptions: list[KafkaSubscription]) -> None:
    """Stop every ingest, wait for its thread, then close it (an overlapped one finishes its
    write) and its subscription (leaving the group)."""
    for ingest in ingests:
        ingest.stop()
    for worker in workers:
        worker.join(timeout=30)
    for ingest in ingests:
        ingest.close()
    for sub in subscriptions:
        sub.close()


def _two_members_on_partition_0(kafka1: KafkaCluster, group: str) -> Callable[[str], KafkaSubscription]:
    """200 node messages (1,600 rows) on samples partition 0; returns a maker of group members
    (static instance id, 50-message batches)."""
    producer = KafkaProducer(bootstrap_servers=kafka1.bootstrap, acks="all", linger_ms=5)
    for key, value in _valid_messages(gpus=64, ticks=25):
        producer.send(topics.SAMPLES, key=key, value=value, partition=0)
    producer.flush(timeout=30)
    producer.close()

    def member(instance: str) -> KafkaSubscription:
        config = SubscriptionConfig(group=group, max_batch_messages=50, max_wait_s=0.2, instance_id=instance)
        return KafkaSubscription(kafka_settings(), kafka1.bootstrap, config)

    return member


def test_revoked_in_flight_range_is_neither_stored_nor_committed_by_its_old_owner(
    kafka1: KafkaCluster, store: ClickHouseStore, other_store: ClickHouseStore
) -> None:
    member = _two_members_on_partition_0(kafka1, "rebalance")

    old_store = FailingStore(store)
    old_store.failing.set()
    old = member("m-2")  # sorts second: loses partition 0 once m-1 joins
    old_ingest = Ingest(old, old_store, Backoff(first_s=0.1, max_s=0.3))  # type: ignore[arg-type]
    new = member("m-1")
    new_ingest = Ingest(new, other_store)
    workers = [threading.Thread(target=old_ingest.run, daemon=True)]
    workers[0].start()
    try:
        # the old owner holds offsets 0-49 of partition 0 in flight, its store refusing them
        assert _wait_until(lambda: old_store.refused >= 3, 60), "the first member never tried its store"
        assert old.stats.ranges_recorded >= 1
        workers.append(threading.Thread(target=new_ingest.run, daemon=True))
        workers[1].start()
        assert _wait_until(lambda: new_ingest.stats.rows >= 1600, 90, 0.2), (new_ingest.stats, new.stats)
        assert _wait_until(lambda: committed(kafka1.bootstrap, "rebalance", topics.SAMPLES, 4)[0] == 200, 30)
        old_store.failing.clear()  # the old owner's store is back: it must not write or commit partition 0 now
        time.sleep(3)
    finally:
        _stop(workers, [old_ingest, new_ingest], [old, new])
    assert new.stats.ranges_repeated >= 1, "the new owner did not re-form the range recorded by the old one"
    assert committed(kafka1.bootstrap, "rebalance", topics.SAMPLES, 4)[0] == 200, "committed offset moved backwards"
    assert _count(store) == (0, 0), "the old owner stored a range it no longer owned"
    assert _count(other_store) == (1600, 1600)


class HeldStore:
    """The real store; the first sample insert waits until `release` is set (a write in flight)."""

    def __init__(self, inner: ClickHouseStore) -> None:
        self.inner = inner
        self.holding = threading.Event()
        self.release = threading.Event()

    def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int:
        if not self.holding.is_set():
            self.holding.set()
            self.release.wait(60)  # bounded: on code without the revoke hook the test fails, it does not hang
        return self.inner.insert_samples(frame, dedup_token)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class RevokeWatched:
    """The subscription, with the held store released when the revoke hook is called during its write."""

    def __init__(self, sub: KafkaSubscription, held: HeldStore) -> None:
        self.sub, self.held = sub, held
        self.hook_calls_while_held = 0

    def on_revoke(self, hook: Callable[[float], None]) -> None:
        def watched(wait_s: float) -> None:
            if self.held.holding.is_set() and not self.held.release.is_set():
                self.hook_calls_while_held += 1
                self.held.release.set()
            hook(wait_s)

        self.sub.on_revoke(watched)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sub, name)


def _keys(store: ClickHouseStore) -> set[tuple[object, ...]]:
    return {tuple(r) for r in store.query("SELECT node, gpu_index, ts FROM gpu_samples").rows}


def test_a_write_in_flight_when_a_rebalance_begins_is_finished_and_committed_before_its_partition_moves(
    kafka1: KafkaCluster, store: ClickHouseStore, other_store: ClickHouseStore
) -> None:
    """The write thread (`gpufleet ingest`'s loop): the first member's write of offsets 0-49 is
    in flight when a second member joins. The rebalance starts in one of the first member's
    polls; before partition 0 goes, that write is finished and its offset committed, so the new
    owner starts at 50: each row is in exactly one of the two stores, none re-formed."""
    member = _two_members_on_partition_0(kafka1, "revoke-in-flight")

    held = HeldStore(store)
    old = member("m-2")  # sorts second: loses partition 0 once m-1 joins
    watched = RevokeWatched(old, held)
    old_ingest = Ingest(watched, held, overlap=True)  # type: ignore[arg-type]
    new = member("m-1")
    new_ingest = Ingest(new, other_store, overlap=True)
    workers = [threading.Thread(target=old_ingest.run, daemon=True)]
    workers[0].start()
    try:
        assert _wait_until(held.holding.is_set, 60), "the first member never started a write"
        workers.append(threading.Thread(target=new_ingest.run, daemon=True))
        workers[1].start()
        assert _wait_until(lambda: len(_keys(other_store)) >= 1200, 90, 0.2), (new.stats, old.stats)
        assert _wait_until(lambda: committed(kafka1.bootstrap, "revoke-in-flight", topics.SAMPLES, 4)[0] == 200, 30)
    finally:
        _stop(workers, [old_ingest, new_ingest], [old, new])
    assert watched.hook_calls_while_held == 1, "the rebalance did not reach the first member's revoke hook during its write"
    assert old.stats.commits_before_revoke == 1 and old.stats.revoked_deliveries == 0, old.stats
    assert new.stats.ranges_repeated == 0, "the new owner re-formed a range the old one had stored"
    first, second = _keys(store), _keys(other_store)
    assert len(first) == 400 and len(second) == 1200, (len(first), len(second))
    assert not first & second, f"{len(first & second)} rows stored by both members"
    assert _count(store) == (400, 400) and _count(other_store) == (1200, 1200)
