"""The transport, chosen by kind: the one place that maps a kind to an implementation.

`create_transport(TransportConfig(kind=...))` is what the app calls; `TRANSPORTS` lists the
kinds. Each factory imports its module when asked, so `collect` on a node without
kafka-python can still print JSON lines. An unknown kind is a `ConfigError` naming the
valid ones. The app keeps the concrete type it asked for (`emit` reads the Kafka
producer's delivery stats, the demo hands its memory log to ingest as the subscription).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from gpufleet.contract.registry import lookup, make_registry
from gpufleet.contract.settings import KafkaSettings
from gpufleet.contract.times import TimeWindow
from pipeline.transport import Transport

MESSAGE_KINDS = frozenset({"samples", "events", "inventory", "facility", "jobs", "processes", "instance_activity"})


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """What any transport may need; each kind reads the fields it uses."""

    kind: str = "memory"
    kafka: KafkaSettings = field(default_factory=KafkaSettings)  # kafka: how to reach the cluster
    bootstrap: str | None = None  # kafka: overrides kafka.bootstrap (`--kafka`)
    buffer_messages: int = 50_000  # kafka: held while the brokers are away
    stream: TextIO | None = None  # jsonl: where the lines go (default: stdout)
    messages: frozenset[str] = MESSAGE_KINDS  # jsonl: which kinds of message are written
    time_window: TimeWindow | None = None  # memory: timestamps accepted (default: TimeWindow())


@dataclass(frozen=True, slots=True)
class TransportFactory:
    kind: str
    summary: str
    create: Callable[[TransportConfig], Transport]


def _memory(config: TransportConfig) -> Transport:
    from pipeline.memory import MemoryBroker

    return MemoryBroker(window=config.time_window)


def _kafka(config: TransportConfig) -> Transport:
    from pipeline.kafka.producer import KafkaTransport, ProducerConfig

    return KafkaTransport(config.kafka, config.bootstrap, ProducerConfig(buffer_messages=config.buffer_messages))


def _jsonl(config: TransportConfig) -> Transport:
    from pipeline.jsonl import JsonLinesTransport

    on = {kind: kind in config.messages for kind in MESSAGE_KINDS}
    return JsonLinesTransport(config.stream or sys.stdout, **on)


TRANSPORTS = make_registry(
    "transport kind",
    (
        TransportFactory("memory", "in-process log read by ingest in the same process (the embedded demo)", _memory),
        TransportFactory("kafka", "the gpufleet topics on a Kafka cluster (kafka-python)", _kafka),
        TransportFactory("jsonl", "wire messages as JSON lines on a stream, stdout by default", _jsonl),
    ),
    lambda f: f.kind,
)


def create_transport(config: TransportConfig, transports: dict[str, TransportFactory] = TRANSPORTS) -> Transport:
    return lookup(transports, "transport", config.kind).create(config)
