"""kafka-python's parked records (`pipeline/kafka/workarounds.py`), against Apache Kafka.

A partition's records fetched while it is paused are parked; kafka-python 3.0.12 keeps them,
and with them the partition out of its fetch rotation, after a rebalance takes the partition
away and gives it back. `unpark` (called by the subscription before every poll) is what
brings such a partition back; this drives a consumer into that state and shows both sides.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from pipeline.kafka.workarounds import fetch_state, unpark
from tests.support.kafka_helpers import KafkaCluster

MESSAGES = 10  # per partition


def _produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(count):
        producer.send(topic, value=f"{partition}-{i}".encode(), partition=partition)
    producer.flush(timeout=30)
    producer.close()


def _topic_with_two_filled_partitions(bootstrap: str) -> str:
    topic = f"parked-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    for partition in (0, 1):
        _produce(bootstrap, topic, partition, MESSAGES)
    return topic


def _poll_for(consumer: KafkaConsumer, seconds: float, before: Callable[[], None] = lambda: None) -> dict[int, int]:
    """Records returned per partition over `seconds` of polls (`before` runs before each)."""
    got: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before()
        for tp, records in consumer.poll(timeout_ms=200, max_records=100).items():
            got[tp.partition] = got.get(tp.partition, 0) + len(records)
    return got


def _consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100
    )


def _park_one(bootstrap: str, consumer: KafkaConsumer, both: list[TopicPartition]) -> tuple[TopicPartition, TopicPartition, int]:
    """Drive `consumer` (assigned `both`) until one partition's records are parked, as ingest's
    pause of a delivered partition does while its records are in line, and the other
    partition's emptied records sit in line after it returned new ones, as in the stalled
    member: (the other, the parked one, records already taken from it)."""
    order: list[TopicPartition] = []
    deadline = time.monotonic() + 30
    while len(set(order)) < 2 and time.monotonic() < deadline:  # one record at a time: the last one's rest is in line
        order += list(consumer.poll(timeout_ms=500, max_records=1))
    assert len(set(order)) == 2, f"both partitions never answered: {order}"
    parked = order[-1]
    consumer.pause(parked)  # the next poll parks the records in line
    other = next(tp for tp in both if tp != parked)
    _poll_for(consumer, 1.0)
    _produce(bootstrap, other.topic, other.partition, MESSAGES)  # returned in full: the emptied records stay in line
    assert _poll_for(consumer, 2.0).get(other.partition), fetch_state(consumer)
    state = fetch_state(consumer)
    assert state["parked_records"] == [f"{parked.topic}/{parked.partition}"] and state["in_line"]["empty"], state
    return other, parked, order.count(parked)


@pytest.fixture
def parked(kafka1: KafkaCluster) -> Iterator[tuple[KafkaConsumer, TopicPartition, TopicPartition, int]]:
    """A consumer assigned both partitions of a new topic, one of them parked: (consumer,
    the other partition, the parked one, records taken from it)."""
    topic = _topic_with_two_filled_partitions(kafka1.bootstrap)
    consumer = _consumer(kafka1.bootstrap)
    try:
        both = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(both)
        yield (consumer, *_park_one(kafka1.bootstrap, consumer, both))
    finally:
        consumer.close()


def test_a_partition_parked_before_a_rebalance_is_read_again_only_with_unpark(
    parked: tuple[KafkaConsumer, TopicPartition, TopicPartition, int],
) -> None:
    consumer, first, second, taken = parked
    # A rebalance that takes the partition away and gives it back: a fresh state, not paused.
    consumer.assign([first])
    consumer.assign([first, second])
    consumer.seek(second, taken)
    state = fetch_state(consumer)["partitions"][f"{second.topic}/{second.partition}"]
    assert state["fetchable"] and not state["paused"], state

    without = _poll_for(consumer, 3.0)
    assert second.partition not in without, (
        "kafka-python now returns a partition parked before a rebalance by itself: "
        f"unpark's second case may no longer be needed ({without})"
    )
    with_unpark = _poll_for(consumer, 5.0, before=lambda: unpark(consumer))
    assert with_unpark.get(second.partition) == MESSAGES - taken, with_unpark
    assert not fetch_state(consumer)["parked_records"], fetch_state(consumer)


def test_unpark_drops_what_is_parked_for_partitions_no_longer_assigned(
    parked: tuple[KafkaConsumer, TopicPartition, TopicPartition, int],
) -> None:
    consumer, first, _second, _taken = parked
    consumer.assign([first])  # the parked partition moved to another member
    unpark(consumer)
    assert fetch_state(consumer)["parked_records"] == [], fetch_state(consumer)
