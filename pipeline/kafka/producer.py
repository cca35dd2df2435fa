"""The Kafka `Transport`: collectors and `gpufleet emit` publish through it.

Publishing never blocks the sampling loop on the network: messages go into a bounded
buffer and a sender thread moves them to Kafka. While the broker is unreachable the buffer
fills; beyond its bound the oldest messages are dropped and counted (fresh telemetry is
worth more than old), and the sender reconnects with capped exponential backoff, then
delivers what the buffer still holds, in order. The producer is idempotent (acks=all),
lz4-compressed, keyed by node so a node's samples stay ordered in one partition.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpufleet.contract.backoff import Backoff
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka import topics
from pipeline.kafka.codec import encode_node_samples
from pipeline.kafka.config import client_config

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Message:
    topic: str
    key: bytes
    value: bytes
    rows: int  # GPU rows carried (samples), for the dropped/sent row counters
    tried: bool = False  # sent once without an acknowledgement: may be in the log already


@dataclass(slots=True)
class ProducerStats:
    """Counters for the metrics endpoint and the stats line; `sent` means acknowledged by Kafka."""

    queued_messages: int = 0
    sent_messages: int = 0
    sent_rows: int = 0
    dropped_messages: int = 0
    dropped_rows: int = 0
    # of those, dropped after a send whose acknowledgement never came (the broker went away
    # mid-request): each may be in the log all the same, so ingest can store up to this many
    dropped_tried_rows: int = 0
    buffered_messages: int = 0
    reconnects: int = 0
    send_failures: int = 0
    connected: bool = False


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """Tuning. `linger_ms` trades up to that much latency for fewer, larger, better-compressed batches."""

    buffer_messages: int = 50_000  # ~15 min of one 8-GPU node at 1 Hz; ~2 s of a 200k-GPU emit
    linger_ms: int = 50
    batch_bytes: int = 256 * 1024
    compression: str = "lz4"
    chunk_messages: int = 10_000  # handed to kafka-python per flush
    flush_timeout_s: float = 10.0  # a chunk not acknowledged by then means the broker is gone
    backoff_first_s: float = 0.5
    backoff_max_s: float = 5.0


class KafkaTransport:
    """Publishes wire messages to the gpufleet topics (see `pipeline.kafka.topics`).

    `publish_*` only encode and enqueue. `flush(timeout_s)` waits until the buffer is
    delivered or the timeout passes; `close()` stops the sender (after `flush`, if you want
    the buffer delivered). Safe to call from several threads.
    """

    def __init__(self, settings: KafkaSettings, bootstrap: str | None = None, config: ProducerConfig | None = None) -> None:
        self.config = config or ProducerConfig()
        self.stats = ProducerStats()
        self._client = {
            **client_config(settings, bootstrap),
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": self.config.compression,
            "linger_ms": self.config.linger_ms,
            "batch_size": self.config.batch_bytes,
            "max_block_ms": 5_000,  # send() waits at most this long for metadata
            "delivery_timeout_ms": 30_000,
            "request_timeout_ms": 10_000,
            "allow_auto_create_topics": False,  # topics are created explicitly, with their settings
        }
        self._buffer: deque[_Message] = deque()
        self._cond = threading.Condition()
        self._inflight = 0
        self._closed = False
        self._producer: Any = None
        self._sender = threading.Thread(target=self._run, name="kafka-sender", daemon=True)
        self._sender.start()

    # ---- Transport ------------------------------------------------------------------
    def publish_samples(self, frame: GpuFrame) -> None:
        self._enqueue([_Message(topics.SAMPLES, key, value, rows) for key, value, rows in encode_node_samples(frame)])

    def publish_events(self, events: Sequence[GpuEvent]) -> None:
        self._enqueue([_Message(topics.EVENTS, e.node.encode(), e.model_dump_json().encode(), 0) for e in events])

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None:
        # Keyed by uuid: the compacted topic keeps the latest record of each GPU.
        self._enqueue([_Message(topics.INVENTORY, i.uuid.encode(), i.model_dump_json().encode(), 0) for i in inventory])

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        self._enqueue(
            [
                _Message(topics.FACILITY, f"{r.site}/{r.hall}/{r.rack}/{r.sensor}".encode(), r.model_dump_json().encode(), 0)
                for r in readings
            ]
        )

    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None:
        # Keyed by node, like samples: one node's job starts and ends stay in order.
        self._enqueue([_Message(topics.JOBS, f"{j.cluster}/{j.node}".encode(), j.model_dump_json().encode(), 0) for j in jobs])

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None:
        self._enqueue([_Message(topics.PROCESSES, p.node.encode(), p.model_dump_json().encode(), 0) for p in processes])

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None:
        topic = topics.INSTANCE_ACTIVITY
        self._enqueue([_Message(topic, a.node.encode(), a.model_dump_json().encode(), 0) for a in activity])

    def flush(self, timeout_s: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._buffer and not self._inflight, timeout=timeout_s)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._sender.join(timeout=self.config.flush_timeout_s + 5)
        self._disconnect()

    @property
    def pending_messages(self) -> int:
        with self._cond:
            return len(self._buffer) + self._inflight

    # ---- buffer ---------------------------------------------------------------------
    def _enqueue(self, messages: list[_Message]) -> None:
        if not messages:
            return
        with self._cond:
            self._buffer.extend(messages)
            self.stats.queued_messages += len(messages)
            self._drop_oldest()
            self._cond.notify_all()

    def _drop_oldest(self) -> None:
        over = len(self._buffer) + self._inflight - self.config.buffer_messages
        for _ in range(min(over, len(self._buffer))):
            dropped = self._buffer.popleft()
            self.stats.dropped_messages += 1
            self.stats.dropped_rows += dropped.rows
            if dropped.tried:
                self.stats.dropped_tried_rows += dropped.rows
        self.stats.buffered_messages = len(self._buffer) + self._inflight

    # ---- sender thread --------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._buffer or self._closed, timeout=1.0)
                if self._closed and not self._buffer:
                    return
                if not self._buffer:
                    continue
                chunk = [self._buffer.popleft() for _ in range(min(self.config.chunk_messages, len(self._buffer)))]
                self._inflight = len(chunk)
            failed = self._send(chunk)
            with self._cond:
                self._inflight = 0
                if failed:
                    for m in failed:
                        m.tried = True
                    self._buffer.extendleft(reversed(failed))  # back in front, order kept
                    self._drop_oldest()
                self.stats.buffered_messages = len(self._buffer)
                self._cond.notify_all()
            if not failed:
                attempt = 0
                continue
            self._disconnect()
            delay = Backoff(self.config.backoff_first_s, self.config.backoff_max_s).delay_s(attempt)
            attempt += 1
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, timeout=delay):
                    return  # closing while the broker is down: what is left stays undelivered (counted as buffered)

    def _send(self, chunk: list[_Message]) -> list[_Message]:
        """Send `chunk` and wait for the acknowledgements; return the messages not acknowledged."""
        from kafka.errors import KafkaError

        producer = self._connect()
        if producer is None:
            return chunk
        futures = []
        try:
            for m in chunk:
                futures.append(producer.send(m.topic, key=m.key, value=m.value))
            producer.flush(timeout=self.config.flush_timeout_s)
        except KafkaError as exc:
            log.warning("kafka send failed; will reconnect", extra={"error": str(exc)[:200]})
        failed = [m for m, f in zip(chunk, futures, strict=False) if not (f.is_done and f.succeeded())]
        failed += chunk[len(futures) :]
        acked = len(chunk) - len(failed)
        with self._cond:
            self.stats.sent_messages += acked
            self.stats.sent_rows += sum(m.rows for m in chunk) - sum(m.rows for m in failed)
            self.stats.send_failures += len(failed)
        return failed

    def _connect(self) -> Any:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        if self._producer is not None:
            return self._producer
        try:
            self._producer = KafkaProducer(**self._client)
        except KafkaError as exc:
            log.warning("kafka unreachable; buffering", extra={"error": str(exc)[:200], "buffered": self.stats.buffered_messages})
            return None
        self.stats.reconnects += 1
        self.stats.connected = True
        return self._producer

    def _disconnect(self) -> None:
        producer, self._producer = self._producer, None
        self.stats.connected = False
        if producer is not None:
            try:
                producer.close(timeout=0)  # undelivered records were already put back in the buffer
            except Exception as exc:  # closing a producer whose broker vanished may raise anything
                log.debug("producer close failed", extra={"error": str(exc)[:200]})
