"""The MQTT bridge's Kafka side: facility readings to the facility topic, rejects to the
dead-letter topic (`gpufleet bridge mqtt --kafka`); `gpufleet ingest` stores them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka.config import client_config
from pipeline.kafka.deadletters import MAX_VALUE_BYTES, DeadLetterSender, Letter
from pipeline.kafka.producer import KafkaTransport


class RejectedReading(Protocol):
    """What the bridge could not parse (collectors.facility.bridge.Rejected has this shape)."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def reason(self) -> str: ...

    @property
    def size(self) -> int: ...


class KafkaFacilitySink:
    """Dead letters first (their send raises `TransientError` while the broker is down, so
    the bridge retries the batch before any reading of it was published), then the readings
    through the buffered producer, waiting while its buffer is above half full so that a
    broker outage pauses MQTT receiving instead of filling the buffer to its drop bound."""

    def __init__(self, bootstrap: str, settings: KafkaSettings, flush_timeout_s: float = 10.0) -> None:
        self.transport = KafkaTransport(settings, bootstrap)
        self.dead_letters = DeadLetterSender(client_config(settings, bootstrap))
        self.flush_timeout_s = flush_timeout_s

    def write(self, readings: Sequence[FacilitySample], rejected: Sequence[RejectedReading], token: str = "") -> None:
        """`token` is unused: the facility topic's consumers deduplicate by offset range."""
        letters: list[Letter] = [(r.topic.encode(), r.payload[:MAX_VALUE_BYTES], _headers(r)) for r in rejected]
        self.dead_letters.send(letters)
        self.transport.publish_facility(readings)
        if self.transport.pending_messages > self.transport.config.buffer_messages // 2:
            self.transport.flush(self.flush_timeout_s)

    def close(self) -> None:
        self.transport.flush(self.flush_timeout_s)
        self.transport.close()


def _headers(rejected: RejectedReading) -> list[tuple[str, bytes]]:
    headers = [("gpufleet.reason", rejected.reason.encode()), ("gpufleet.source", f"mqtt:{rejected.topic}".encode())]
    if rejected.size > len(rejected.payload) or len(rejected.payload) > MAX_VALUE_BYTES:
        headers.append(("gpufleet.truncated", str(max(rejected.size, len(rejected.payload))).encode()))
    return headers
