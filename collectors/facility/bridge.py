"""`gpufleet bridge mqtt`: subscribe to the site's facility topics, validate, hand on.

aiomqtt 2.x has no reconnect of its own, so the receive loop reconnects with capped
exponential backoff; a fixed client id with a persistent session (clean_session=False)
lets the broker keep QoS 1 messages for us while we are away (not across a restart of a
broker that does not persist them). Between receiving and writing sits a bounded queue:
when the sink is slow or down, receiving pauses rather than dropping. Readings in that
queue are acknowledged to the broker already, so a crash of the bridge can lose at most
`queue_max` readings; that bound is the price of not holding MQTT acks across inserts.

Each batch gets one token (`mqtt:<run>:<n>`) that it keeps across retries, so a retry
after a partly successful write (readings stored, dead letters not) stores nothing twice.
A rejected payload is cut to `MAX_REJECTED_BYTES` at once (its size is kept), so no dead
letter can outgrow what a store row or a Kafka request takes. `write_batch` bounds the
retries: a `TransientError` (destination down) is retried with capped, jittered backoff
for as long as the bridge runs (receiving pauses: delayed, not lost) and `STOP_ATTEMPTS`
more times once it stops; any other error `OTHER_ATTEMPTS` times. A batch given up on is
counted in `BridgeStats.dropped` and logged, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import aiomqtt

from collectors.facility import fastread
from collectors.facility.gcpause import CollectBetweenBatches
from collectors.facility.payload import parse_reading
from gpufleet.contract.backoff import Backoff
from gpufleet.contract.errors import ConfigError, InvalidMessage, TransientError
from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.sensors import TOPIC_FILTER
from gpufleet.contract.times import TimeWindow

log = logging.getLogger(__name__)
MAX_REJECTED_BYTES = 4096  # of a rejected payload kept for its dead letter (valid ones are smaller)
MAX_TOPIC_CHARS = 512
STOP_ATTEMPTS = 3
OTHER_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that did not parse or validate, and why. `payload` is its first
    `MAX_REJECTED_BYTES`; `size` is how long it was."""

    topic: str
    payload: bytes
    reason: str
    size: int = 0

    @staticmethod
    def capped(topic: str, payload: bytes, reason: str) -> Rejected:
        return Rejected(topic[:MAX_TOPIC_CHARS], payload[:MAX_REJECTED_BYTES], reason, len(payload))


class FacilitySink(Protocol):
    """Where bridged readings go. `write` blocks until stored (a thread runs it) and raises
    `TransientError` while the destination is down; the bridge retries the same batch with
    the same `token`, which the sink uses to store it once."""

    def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str = "gpufleet-bridge"
    topic_filter: str = TOPIC_FILTER
    keepalive_s: int = 30

    @staticmethod
    def from_url(url: str, **options: str | None) -> MqttConfig:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ConfigError(f"MQTT URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
        tls = parsed.scheme == "mqtts"
        port = parsed.port or (8883 if tls else 1883)
        given = {k: v for k, v in options.items() if v is not None}
        return MqttConfig(host=parsed.hostname, port=port, tls=tls, **given)  # type: ignore[arg-type]

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass(slots=True)
class BridgeStats:
    received: int = 0
    stored: int = 0
    rejected: int = 0
    reconnects: int = 0
    sink_retries: int = 0
    dropped: int = 0  # readings and rejects of batches given up on (see `write_batch`)
    discarded: int = 0  # dropped by aiomqtt past its incoming bound (`client_queue_max`)
    connected: bool = False
    started_s: float = field(default_factory=time.monotonic)


_Item = FacilitySample | Rejected
_RECONNECT = Backoff(first_s=0.2, max_s=10.0)
_SINK_RETRY = Backoff(first_s=0.2, max_s=5.0)  # jittered: bridge workers share one store


class _CountDiscards(logging.Handler):
    """aiomqtt discards a message (after paho has acknowledged it) when its incoming queue is
    full, and only logs it; this counts those log records so the loss is a number."""

    def __init__(self, stats: BridgeStats) -> None:
        super().__init__(logging.WARNING)
        self.stats = stats

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Message queue is full"):
            self.stats.discarded += 1


class MqttBridge:
    def __init__(
        self,
        config: MqttConfig,
        sink: FacilitySink,
        batch_max: int = 20_000,
        flush_interval_s: float = 0.5,
        queue_max: int = 50_000,
        client_queue_max: int | None = None,
        window: TimeWindow | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self.queue_max = queue_max
        # paho acknowledges QoS 1 on receipt, before aiomqtt queues the message, so MQTT gives
        # no backpressure: while the sink is behind, messages wait in aiomqtt's queue. It is
        # bounded (~0.5 GB at this size); past it aiomqtt discards, and we count each one.
        self.client_queue_max = client_queue_max or max(20 * queue_max, 1_000_000)
        self.window = window or TimeWindow()
        self.stats = BridgeStats()
        self._run = f"{time.time_ns():x}"  # batch tokens of another run never collide
        self._batches = 0
        self._burst_reads = False  # fastread installed on the current client
        self._client_logger = logging.getLogger(f"{__name__}.client.{id(self)}")
        self._client_logger.addHandler(_CountDiscards(self.stats))

    async def run(self, stop: asyncio.Event) -> BridgeStats:
        """Bridge until `stop` is set, then write what is queued and return."""
        self._pending: list[_Item] = []
        self._batch_ready = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        receiving_done = asyncio.Event()
        with CollectBetweenBatches() as self._gc:
            writer = asyncio.create_task(self._write_loop(receiving_done))
            try:
                await self._receive_loop(stop)
            finally:
                receiving_done.set()
                self._batch_ready.set()
                await writer
        return self.stats

    # ---- receiving ---------------------------------------------------------------------
    async def _receive_loop(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                async with self._client() as client:
                    await client.subscribe(self.config.topic_filter, qos=1)
                    self.stats.connected, attempt = True, 0
                    log.info("mqtt connected", extra={"host": self.config.host, "port": self.config.port})
                    await _until_stopped(self._consume(client), stop)
            except aiomqtt.MqttError as exc:
                self.stats.connected = False
                self.stats.reconnects += 1
                delay = _RECONNECT.delay_s(attempt)
                attempt += 1
                log.warning("mqtt connection lost, reconnecting", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        self.stats.connected = False

    def _client(self) -> aiomqtt.Client:
        c = self.config
        client = aiomqtt.Client(
            c.host,
            c.port,
            identifier=c.client_id,
            username=c.username,
            password=c.password,
            tls_context=c.tls_context(),
            keepalive=c.keepalive_s,
            clean_session=False,
            max_queued_incoming_messages=self.client_queue_max,
            logger=self._client_logger,
        )
        self._burst_reads = fastread.install(client)
        return client

    async def _consume(self, client: aiomqtt.Client) -> None:
        # A plain list and two events, not an asyncio.Queue, and every message aiomqtt holds
        # taken at once: one await per burst instead of one per reading is what lets a single
        # process keep up with a site's sensors.
        pending, stats = self._pending, self.stats
        async for first in client.messages:
            burst = fastread.take_ready(client, first, self.batch_max) if self._burst_reads else [first]
            stats.received += len(burst)
            parse_into(pending, burst, int(time.time() * 1000), self.window)
            if len(pending) >= self.batch_max:
                self._batch_ready.set()
                if len(pending) >= self.queue_max:  # the sink is behind: stop taking messages, do not drop
                    self._has_room.clear()
                    await self._has_room.wait()

    # ---- writing -----------------------------------------------------------------------
    async def _write_loop(self, receiving_done: asyncio.Event) -> None:
        self._receiving_done = receiving_done
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_ready.wait(), timeout=self.flush_interval_s)
            self._batch_ready.clear()
            batch = self._pending[: self.batch_max]
            del self._pending[: len(batch)]
            if len(self._pending) < self.queue_max:
                self._has_room.set()
            if batch:
                await self._write(batch)
            self._gc.collect()
            if len(self._pending) >= self.batch_max:
                self._batch_ready.set()
            elif receiving_done.is_set() and not self._pending:
                return

    async def _write(self, batch: list[_Item]) -> None:
        readings = [i for i in batch if isinstance(i, FacilitySample)]
        rejected = [i for i in batch if isinstance(i, Rejected)]
        token = f"mqtt:{self._run}:{self._batches}"
        self._batches += 1
        done = self._receiving_done
        await asyncio.to_thread(write_batch, self.sink, readings, rejected, token, self.stats, done.is_set)


def write_batch(
    sink: FacilitySink,
    readings: list[FacilitySample],
    rejected: list[Rejected],
    token: str,
    stats: BridgeStats,
    stopping: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Write one batch under `token`, retrying within the bounds of the module docstring.

    Returns whether it was written; counts it in `stats` either way.
    """
    attempt = after_stop = 0
    while True:
        try:
            sink.write(readings, rejected, token)
            stats.stored += len(readings)
            stats.rejected += len(rejected)
            return True
        except Exception as exc:  # a sink error must not end the bridge: bounded retries, then counted
            transient = isinstance(exc, TransientError)
            after_stop += stopping()
            if (transient and after_stop >= STOP_ATTEMPTS) or (not transient and attempt + 1 >= OTHER_ATTEMPTS):
                stats.dropped += len(readings) + len(rejected)
                log.error("facility batch given up", extra={"error": str(exc)[:300], "attempts": attempt + 1, "token": token})
                return False
            stats.sink_retries += 1
            delay = _SINK_RETRY.delay_s(attempt)
            attempt += 1
            log.warning(
                "facility sink failed, retrying the same batch", extra={"error": str(exc)[:300], "retry_in_s": round(delay, 2)}
            )
            sleep(delay)


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run `work` until it ends or `stop` is set; errors from `work` propagate."""
    task = asyncio.create_task(work)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        if pending not in done:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task in done:
        task.result()


def parse_into(out: list[_Item], messages: Sequence[aiomqtt.Message], arrival_ms: int, window: TimeWindow | None = None) -> None:
    """Append each message's reading to `out`, or its `Rejected` (capped) with the reason."""
    for message in messages:
        topic, payload = message.topic.value, _as_bytes(message.payload)
        try:
            out.append(parse_reading(topic, payload, arrival_ms, window))
        except InvalidMessage as exc:
            out.append(Rejected.capped(topic, payload, exc.reason))


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()
