"""The ingest loop: poll a delivery, store all of it, then commit it.

Write before commit, always: a delivery is committed only after the store acknowledged
every insert, and each insert carries a token derived from the delivery's position range,
so a delivery written twice (a retry, a crash between write and commit) lands once. While
the store is down the same delivery is retried with capped exponential backoff and
nothing is committed: data is delayed, not lost.

Errors are sorted (`storage.errors`): a retryable store error (unreachable, busy, out of
memory, a read-only replica) and a store that needs an operator (no table, no grant) both
back off and commit nothing; rows the store refuses for what they contain are isolated
(`pipeline.isolate`), dead-lettered with the store's reason, and the rest is stored and
committed. Nothing on the data path makes ingest exit or loop on one delivery.

A node message the log holds twice (a producer re-send: two offsets, two tokens) is
dropped by `DropRepeats` before the write; see `pipeline.repeats` for how far back it looks.

`overlap=True` (the Kafka service) writes each delivery on a second thread while this one
polls, fetches and decodes the next: chDB runs an insert without the GIL, so the two halves
of the loop share the cores instead of taking turns. The order of effects stays the serial
one: delivery N+1 goes through `DropRepeats` only after N was stored and remembered, N is
committed only after its write returned, and a write that fails is retried here, serially,
exactly as without overlap (backoff, keepalive, nothing committed). The subscription is
used from this thread only; the write thread touches nothing but the store. A rebalance
starts inside one of this thread's polls, possibly during a write: a subscription with
`on_revoke` (Kafka) calls back before it gives partitions up, and the write in flight is
finished and committed there, so the next owner of its partition starts after it; what was
polled ahead for a partition no longer owned is dropped, not written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from gpufleet.contract.backoff import Backoff
from gpufleet.contract.errors import StoreError, StoreRefusedData, TransientError
from pipeline.isolate import Refusal, frame_letters, frame_parts, insert_isolating, list_parts, model_letters
from pipeline.repeats import DropRepeats, Repeats
from pipeline.transport import Delivery, Subscription
from storage.base import DeadLetter, Store

__all__ = ["Backoff", "Ingest", "IngestStats"]  # Backoff: callers tune the store retries with it

log = logging.getLogger(__name__)
_RECENT_TOKENS = 1_024
_AHEAD_POLL_S = 0.05  # while a write is in flight: short polls, so its commit is not held up by an idle fetch


@dataclass(slots=True)
class IngestStats:
    """Counters for progress displays, the stats log line and the metrics endpoint."""

    deliveries: int = 0
    messages: int = 0
    rows: int = 0
    events: int = 0
    inventory: int = 0
    facility: int = 0
    jobs: int = 0
    processes: int = 0  # process messages (one per node every few seconds)
    instance_activity: int = 0  # per-MIG-instance activity messages (one per MIG node per tick)
    dead_letters: int = 0  # decoder's and store's refusals, stored in dead_letters
    store_refused: int = 0  # messages the store refused for their rows (isolated, dead-lettered)
    store_refused_rows: int = 0
    dead_letters_lost: int = 0  # dead letters the store refused in turn: counted, not stored
    duplicate_messages: int = 0  # node messages dropped as repeats of stored ones
    duplicate_rows: int = 0
    store_retries: int = 0
    insert_s: float = 0.0
    freshness_s: float = 0.0  # publish -> queryable, for the latest delivery
    freshness_max_s: float = 0.0
    started_s: float = field(default_factory=time.monotonic)

    def rows_per_s(self) -> float:
        elapsed = time.monotonic() - self.started_s
        return self.rows / elapsed if elapsed > 0 else 0.0


class Ingest:
    """Moves deliveries from a `Subscription` into a `Store`."""

    def __init__(
        self,
        subscription: Subscription,
        store: Store,
        backoff: Backoff | None = None,
        repeats: DropRepeats | None = None,
        overlap: bool = False,
    ) -> None:
        self.subscription = subscription
        self.store = store
        self.backoff = backoff or Backoff()
        self.repeats = repeats or DropRepeats()
        self._stored_tokens: dict[str, None] = {}  # the last ranges stored, oldest first
        self.stats = IngestStats()
        self._refused_rows = 0  # of the delivery being written
        self._letters_lost = 0
        self._stop = threading.Event()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-write") if overlap else None
        self._writing: tuple[Delivery, Repeats, Future[None]] | None = None  # overlap: the write in flight
        self._ahead: Delivery | None = None  # overlap: polled while that write ran, not through DropRepeats yet
        self._finished_early: Delivery | None = None  # overlap: committed by `_finish_for_revoke` inside a poll
        on_revoke = getattr(subscription, "on_revoke", None)
        if self._writer is not None and on_revoke is not None:
            on_revoke(self._finish_for_revoke)

    def stop(self) -> None:
        self._stop.set()

    @property
    def busy(self) -> bool:
        """Whether a delivery is being written or waits, polled, for its turn (overlap only)."""
        return self._writing is not None or self._ahead is not None

    def step(self, timeout_s: float = 0.5) -> Delivery | None:
        """One poll → write → commit. Returns the committed delivery, or None.

        With overlap the delivery returned is the one whose write was in flight when the
        step began (or began in it), and the poll of the next one ran during that write."""
        if self._writer is not None:
            return self._step_overlapped(timeout_s)
        delivery = self.subscription.poll(timeout_s)
        if delivery is None:
            return None
        delivery.samples, repeats = self.repeats.drop(delivery.samples)
        if not self._write_until_stored(delivery):
            return None
        self._stored(delivery, repeats)
        return delivery

    def finish(self) -> Delivery | None:
        """Overlap: wait for the write in flight and commit it if it stored (shutdown). What was
        polled ahead stays uncommitted and is delivered again later."""
        writing, self._writing, self._ahead = self._writing, None, None
        if writing is None:
            return None
        delivery, repeats, future = writing
        try:
            future.result()
        except (TransientError, StoreError) as exc:
            log.warning("store write failed at shutdown; delivered again later", extra={"error": str(exc)[:200]})
            return None
        self._stored(delivery, repeats)
        return delivery

    def close(self) -> None:
        if self._writer is not None:
            self.finish()
            self._writer.shutdown(wait=True)

    def _stored(self, delivery: Delivery, repeats: Repeats) -> None:
        self.repeats.remember(repeats.kept)  # only now: what it remembers is in the store
        self.subscription.commit(delivery)
        self._count(delivery, repeats)

    def _step_overlapped(self, timeout_s: float) -> Delivery | None:
        if self._writing is None:
            ahead, self._ahead = self._ahead, None  # polled during a write whose retry a rebalance ended
            first = ahead if ahead is not None and self._owned(ahead) else self.subscription.poll(timeout_s)
            if first is None:
                return None
            self._start_write(first)
        writing = self._writing
        assert writing is not None
        delivery, repeats, future = writing
        while self._ahead is None and self._writing is writing and not future.done():
            self._ahead = self.subscription.poll(_AHEAD_POLL_S)  # fetch and decode during the write
        if self._writing is not writing:  # a rebalance began in that poll, and committed it first
            done, self._finished_early = self._finished_early, None
        else:
            self._writing = None
            try:
                future.result()
            except (TransientError, StoreError) as exc:  # the serial path retries it, with backoff and keepalive
                if not self._write_until_stored(delivery, exc):
                    return None  # stopping, or revoked: uncommitted, delivered again
            self._stored(delivery, repeats)
            done = delivery
        ahead, self._ahead = self._ahead, None
        if ahead is not None and self._owned(ahead):
            self._start_write(ahead)
        return done

    def _finish_for_revoke(self, wait_s: float) -> None:
        """The subscription is about to give partitions up (called inside this thread's poll):
        the write in flight is waited for, at most `wait_s`, and committed now, while this
        member still owns its partition. Past `wait_s`, or if it failed, the step handles it
        as before: its commit is refused and the next owner writes the range again (same token)."""
        writing = self._writing
        if writing is None:
            return
        delivery, repeats, future = writing
        try:
            future.result(timeout=wait_s)
        except FutureTimeout:
            log.warning("write still running when its partition was revoked", extra={"token": delivery.token})
            return
        except (TransientError, StoreError):
            return
        self._writing = None
        self._stored(delivery, repeats)
        self._finished_early = delivery

    def _owned(self, delivery: Delivery) -> bool:
        return bool(getattr(self.subscription, "owns", lambda _d: True)(delivery))

    def _start_write(self, delivery: Delivery) -> None:
        assert self._writer is not None
        delivery.samples, repeats = self.repeats.drop(delivery.samples)
        self._writing = (delivery, repeats, self._writer.submit(self._write, delivery))

    def run(self, until_idle_s: float | None = None) -> IngestStats:
        """Loop until `stop()`, or until nothing arrived for `until_idle_s` seconds."""
        idle_since = time.monotonic()
        while not self._stop.is_set():
            if self.step() is not None:
                idle_since = time.monotonic()
            elif until_idle_s is not None and time.monotonic() - idle_since >= until_idle_s:
                break
        return self.stats

    def _write_until_stored(self, delivery: Delivery, failed: StoreError | TransientError | None = None) -> bool:
        """Write until stored; `failed`: the write thread's attempt already failed so (overlap)."""
        attempt = 0
        while True:
            exc, failed = failed, None
            if exc is None:
                try:
                    self._write(delivery)
                    return True
                except (TransientError, StoreError) as error:
                    exc = error
            self.stats.store_retries += 1
            delay = self.backoff.delay_s(attempt)
            if isinstance(exc, TransientError):
                log.warning("store write failed, retrying", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
            else:  # a missing table or grant: the data is fine and waits for the fix
                log.error("store refused the write; fix the store", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
            attempt += 1
            if self._wait(delay):
                return False  # shutting down: uncommitted, so it is delivered again later
            if not self._owned(delivery):
                return False  # a rebalance gave its partition to another member, which stores it

    def _wait(self, delay_s: float) -> bool:
        """Back off for `delay_s`; True when stopping. A subscription with `keepalive(timeout_s)`
        (Kafka) keeps its group membership meanwhile, fetching nothing (bounded memory)."""
        keepalive = getattr(self.subscription, "keepalive", None)
        if keepalive is None:
            return self._stop.wait(delay_s)
        deadline = time.monotonic() + delay_s
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            keepalive(min(left, 0.5))
        return self._stop.is_set()

    def _write(self, delivery: Delivery) -> None:
        started = time.monotonic()
        token, store = delivery.token, self.store
        self._refused_rows = self._letters_lost = 0  # of this attempt only
        source = token or "ingest"
        refused = self._samples(delivery, f"{token}:samples", source)
        refused += self._models(store.insert_events, delivery.events, f"{token}:events", source)
        refused += self._models(store.insert_inventory, delivery.inventory, f"{token}:inventory", source)
        self._dead_letters(delivery.dead_letters, f"{token}:dead")
        refused += self._models(store.insert_facility, delivery.facility, f"{token}:facility", source)
        refused += self._models(store.insert_jobs, delivery.jobs, f"{token}:jobs", source)
        refused += self._models(store.insert_processes, delivery.processes, f"{token}:processes", source)
        activity = delivery.instance_activity
        refused += self._models(store.insert_instance_activity, activity, f"{token}:instance_activity", source)
        self._dead_letters(refused, f"{token}:refused")
        delivery.store_refused = refused
        self.stats.insert_s += time.monotonic() - started

    def _samples(self, delivery: Delivery, token: str, source: str) -> list[DeadLetter]:
        frame = delivery.samples
        try:
            self.store.insert_samples(frame, token)
            return []
        except StoreRefusedData as exc:
            parts, message = frame_parts(frame)
            refusals = insert_isolating(self.store.insert_samples, parts, token, exc)
            _log_refusals(exc, refusals)
        self._refused_rows = int(np.isin(message, [r.index for r in refusals]).sum())
        return frame_letters(frame, message, refusals, source)

    def _models(self, insert: Callable[[Any, str], Any], items: Sequence[BaseModel], token: str, source: str) -> list[DeadLetter]:
        try:
            insert(items, token)
            return []
        except StoreRefusedData as exc:
            refusals = insert_isolating(insert, list_parts(items), token, exc)
            _log_refusals(exc, refusals)
        return model_letters(items, refusals, source)

    def _dead_letters(self, letters: list[DeadLetter], token: str) -> None:
        """Dead letters the store refuses in turn are counted and dropped (their reason is logged):
        a dead letter of a dead letter would have nowhere better to go."""
        try:
            self.store.insert_dead_letters(letters, token)
        except StoreRefusedData as exc:
            lost = insert_isolating(self.store.insert_dead_letters, list_parts(letters), token, exc)
            self._letters_lost += len(lost)
            if lost:
                log.error(
                    "store refused dead letters; counted and dropped", extra={"letters": len(lost), "reason": lost[0].reason}
                )

    def _count(self, delivery: Delivery, repeats: Repeats) -> None:
        s = self.stats
        s.deliveries += 1
        refused_rows, lost = self._refused_rows, self._letters_lost
        s.store_refused += len(delivery.store_refused)
        s.store_refused_rows += refused_rows
        s.dead_letters_lost += lost
        if not self._stored_again(delivery.token):
            s.duplicate_messages += repeats.messages
            s.duplicate_rows += repeats.rows
        s.messages += delivery.messages
        s.rows += len(delivery.samples) - refused_rows
        s.events += len(delivery.events)
        s.inventory += len(delivery.inventory)
        s.facility += len(delivery.facility)
        s.jobs += len(delivery.jobs)
        s.processes += len(delivery.processes)
        s.instance_activity += len(delivery.instance_activity)
        s.dead_letters += len(delivery.dead_letters) + len(delivery.store_refused) - lost
        if delivery.published_at_s:
            s.freshness_s = time.time() - delivery.published_at_s
            s.freshness_max_s = max(s.freshness_max_s, s.freshness_s)

    def _stored_again(self, token: str) -> bool:
        """Whether this process stored the range `token` before (a commit failed, so it came
        again); remembers it. Its messages are not counted as repeats: no producer sent them twice."""
        again = bool(token) and token in self._stored_tokens
        self._stored_tokens.pop(token, None)
        self._stored_tokens[token] = None
        if len(self._stored_tokens) > _RECENT_TOKENS:
            del self._stored_tokens[next(iter(self._stored_tokens))]
        return again


def _log_refusals(whole: StoreRefusedData, refusals: list[Refusal]) -> None:
    if refusals:
        log.warning("store refused messages; dead-lettered", extra={"messages": len(refusals), "reason": refusals[0].reason})
    else:  # e.g. too many partitions for one block: every part was accepted
        log.info("store refused the insert whole; stored in parts", extra={"reason": str(whole)[:200]})
