"""The dead-letter topic: every message ingest could not store, with why and where it came from.

Headers carry the reason and the source topic, partition, offset and topic id, so an
operator can find, fix and replay a message; the value is the original bytes (cut to
`MAX_VALUE_BYTES` with a `gpufleet.truncated` header when larger). Sending is
at-least-once: a crash between sending and committing the source offset sends it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final

from kafka import KafkaProducer
from kafka.errors import KafkaError

from gpufleet.contract.errors import TransientError
from pipeline.kafka import topics

MAX_VALUE_BYTES: Final = 900 * 1024  # under the producer's 1 MiB request limit, with room for headers
Letter = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def store_letter(source: str, record: Any, reason: str) -> Any:
    """The store's `DeadLetter` for one refused record (payload cut to 4 KiB; the topic keeps it whole)."""
    from storage.base import DeadLetter

    payload = record.value[:4096] if record.value else b""
    node = record.key.decode("utf-8", "replace") if record.key else None
    return DeadLetter(source=f"{source}@{record.offset}", reason=reason, payload=payload, node=node)


def dead_letter(record: Any, reason: str, topic_id: str) -> Letter:
    """(key, value, headers) for one refused Kafka record."""
    value: bytes = record.value or b""
    headers = [
        ("gpufleet.reason", reason.encode()),
        ("gpufleet.source_topic", str(record.topic).encode()),
        ("gpufleet.source_partition", str(record.partition).encode()),
        ("gpufleet.source_offset", str(record.offset).encode()),
        ("gpufleet.source_topic_id", topic_id.encode()),
        ("gpufleet.source_timestamp_ms", str(record.timestamp).encode()),
    ]
    if len(value) > MAX_VALUE_BYTES:
        headers.append(("gpufleet.truncated", str(len(value)).encode()))
        value = value[:MAX_VALUE_BYTES]
    return record.key, value, headers


def refused_letter(letter: Any, topic: str, partition: int, topic_id: str) -> Letter:
    """(key, value, headers) for a message the store refused (a `storage.base.DeadLetter` made by
    ingest): the value is the message as decoded, the source is its batch's offset range."""
    payload = letter.payload if isinstance(letter.payload, bytes) else str(letter.payload).encode()
    headers = [
        ("gpufleet.reason", str(letter.reason).encode()),
        ("gpufleet.source_topic", topic.encode()),
        ("gpufleet.source_partition", str(partition).encode()),
        ("gpufleet.source_range", str(letter.source).encode()),
        ("gpufleet.source_topic_id", topic_id.encode()),
    ]
    if len(payload) > MAX_VALUE_BYTES:
        headers.append(("gpufleet.truncated", str(len(payload)).encode()))
        payload = payload[:MAX_VALUE_BYTES]
    key = letter.node.encode() if letter.node else None
    return key, payload, headers


class DeadLetterSender:
    """An idempotent producer for `topics.DEADLETTER`; `send` returns only once all are acknowledged."""

    def __init__(self, client: dict[str, Any]) -> None:
        self._config = {
            **client,
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": "lz4",
            "linger_ms": 5,
            "max_block_ms": 10_000,
            "allow_auto_create_topics": False,
        }
        self._producer: Any = None

    def send(self, letters: Sequence[Letter], timeout_s: float = 15.0) -> None:
        """Raises:
        TransientError: not all letters were acknowledged (the caller must not commit)."""
        if not letters:
            return
        try:
            if self._producer is None:
                self._producer = KafkaProducer(**self._config)
            futures = [self._producer.send(topics.DEADLETTER, key=k, value=v, headers=h) for k, v, h in letters]
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            self._reset()
            raise TransientError(f"cannot send dead letters: {exc}") from exc
        failed = [f for f in futures if not (f.is_done and f.succeeded())]
        if failed:
            self._reset()
            raise TransientError(f"{len(failed)} of {len(letters)} dead letters not acknowledged")

    def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            # a producer whose broker vanished may fail to close; it is dropped anyway
            with contextlib.suppress(Exception):
                producer.close(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
