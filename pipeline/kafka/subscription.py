"""The Kafka `Subscription`: a consumer-group member that hands ingest one partition range at a time.

Each delivery is one partition's records from a fixed offset range (`batches.py`), decoded
in bulk, with the dedup token `topic:topic_id:partition:first-last`. The topic id (KIP-516)
is in the token because offsets restart at 0 when a topic is deleted and created again (or
a broker that keeps nothing restarts): without it, new data would carry old tokens and be
dropped as duplicates. `commit` first sends the dead letters to the dead-letter topic, then
commits the consumer offset; ingest calls it only after the store acknowledged the writes.

A partition revoked in a rebalance takes its in-flight delivery with it: `owns` turns false
(ingest stops retrying that write) and `commit` refuses it, so a member that lost a
partition never moves that partition's committed offset backwards under the new owner.
A write that is running when the rebalance starts (ingest's write thread) is first finished
and committed through the hook set with `on_revoke`, so the next owner starts after it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from gpufleet.contract.errors import TransientError
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka import topics
from pipeline.kafka.batches import PartitionBatch
from pipeline.kafka.config import SubscriptionConfig, SubscriptionStats, client_config
from pipeline.kafka.deadletters import DeadLetterSender, dead_letter, refused_letter, store_letter
from pipeline.kafka.decoder import Refused, decode_models, decode_samples
from pipeline.kafka.workarounds import fetch_state, unpark
from pipeline.transport import Delivery

__all__ = ["KafkaSubscription", "SubscriptionConfig", "SubscriptionStats"]

log = logging.getLogger(__name__)
_TOPIC_CHECK_S: Final = 5.0
_KAFKA_CALL_MS: Final = 10_000  # a blocking call to a broker that went away gives up after this


@dataclass(slots=True)
class _Position:
    tp: Any
    first: int
    last: int
    topic_id: str
    refused: list[tuple[Any, str]]  # (record, reason) for the dead-letter topic


def _left_uncommitted(pos: _Position, why: str) -> None:
    """A range stored whose offset this member did not commit: the partition's next owner (or
    this member, rewound) stores it again under the same token, which one store drops. With a
    store per member (the fault tests) that is a second copy, which they find by this line."""
    extra = {"topic": pos.tp.topic, "partition": pos.tp.partition, "first": pos.first, "last": pos.last, "why": why}
    log.warning("range stored, offset not committed", extra=extra)


class KafkaSubscription:
    """Consumes `topics.INGESTED` in group `config.group`; see `pipeline.transport.Subscription`.

    Not thread-safe: one thread polls, writes and commits (the ingest loop).
    """

    def __init__(self, settings: KafkaSettings, bootstrap: str | None = None, config: SubscriptionConfig | None = None) -> None:
        self.config = config or SubscriptionConfig()
        self.settings = settings
        self.stats = SubscriptionStats()
        base = client_config(settings, bootstrap)
        consumer_config = {
            **base,
            "enable_auto_commit": False,  # offsets are committed only after the store acknowledged
            "auto_offset_reset": "earliest",
            "allow_auto_create_topics": False,
            "session_timeout_ms": self.config.session_timeout_ms,
            "heartbeat_interval_ms": self.config.heartbeat_interval_ms,
            "max_poll_interval_ms": self.config.max_poll_interval_ms,
            "request_timeout_ms": 30_000,
            "max_poll_records": self.config.max_batch_messages,
            "fetch_max_bytes": 64 * 1024 * 1024,
            "max_partition_fetch_bytes": 8 * 1024 * 1024,
            # A group leader that assigned before its metadata had the topics (an empty
            # assignment: docs/kafka.md, "Fixtures") rejoins when its next metadata shows
            # them, which by default comes only after 5 minutes.
            "metadata_max_age_ms": 5_000,
        }
        try:
            self._admin = KafkaAdminClient(**base, request_timeout_ms=10_000)
            if self.config.create_topics:
                self.stats.topics_created += len(topics.ensure_topics(self._admin, topics.topic_specs(settings)))
            static = {"group_instance_id": self.config.instance_id} if self.config.instance_id else {}
            self._consumer = KafkaConsumer(**consumer_config, **static, group_id=self.config.group)
            # The range journal: a second group whose committed offsets record where batches end.
            self._ranges = KafkaConsumer(**consumer_config, group_id=f"{self.config.group}.ranges")
            self._dead = DeadLetterSender(base)
        except KafkaError as exc:
            raise TransientError(f"cannot reach Kafka at {bootstrap or settings.bootstrap!r}: {exc}") from exc
        self._batches: dict[Any, PartitionBatch] = {}
        self._fresh: set[Any] = set()  # assigned, range journal not read yet
        self._inflight: dict[Any, _Position] = {}
        self._topic_ids: dict[str, str] = {}
        self._topics_checked_s = 0.0
        self._draining = False
        self._revoke_hook: Callable[[float], None] | None = None
        self._revoking = False  # inside that hook: on kafka-python's IO thread
        # The hook blocks the IO thread, heartbeats included: the last one may be a heartbeat
        # interval old, so stay a second interval inside the session.
        self._revoke_wait_s = max(0.5, (self.config.session_timeout_ms - 2 * self.config.heartbeat_interval_ms) / 1000)
        self._consumer.subscribe(list(topics.INGESTED), listener=_Listener(self))

    # ---- Subscription -----------------------------------------------------------------
    def poll(self, timeout_s: float) -> Delivery | None:
        self._check_topics()
        batch_tp = self._ready()
        if batch_tp is None and not self._draining:  # shutting down: deliver what is held, fetch nothing new
            self._resume_open()
            unpark(self._consumer)
            try:
                records = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=self.config.max_batch_messages)
            except KafkaError as exc:  # kafka-python retries inside poll, but a broker restart can still surface here
                log.warning("fetch failed; retrying", extra={"error": str(exc)[:200]})
                time.sleep(timeout_s)
                return None
            self._accept(records)
            batch_tp = self._ready()
        return self._deliver(batch_tp) if batch_tp is not None else None

    def commit(self, delivery: Delivery) -> None:
        """Dead letters to their topic, then the offset. Failures are logged, never raised: the
        rows are stored, and a range delivered again is dropped by the store as a duplicate."""
        pos = delivery.position
        assert isinstance(pos, _Position)
        if not self.owns(delivery):  # revoked meanwhile: the offset is the new owner's to commit
            self.stats.revoked_deliveries += 1
            _left_uncommitted(pos, "revoked")
            return
        if self._revoking and (pos.refused or delivery.store_refused):
            # Sending dead letters can block for the producer's timeouts, on the IO thread that
            # keeps this member's session: the next owner repeats the range instead (same token).
            self.stats.revoked_deliveries += 1
            _left_uncommitted(pos, "revoking with dead letters to send")
            return
        del self._inflight[pos.tp]
        try:
            letters = [dead_letter(record, reason, pos.topic_id) for record, reason in pos.refused]
            letters += [refused_letter(d, pos.tp.topic, pos.tp.partition, pos.topic_id) for d in delivery.store_refused]
            self._dead.send(letters)
            offsets = {pos.tp: OffsetAndMetadata(pos.last + 1, "", -1)}
            if self._revoking:
                # A blocking commit from the IO thread would wait for itself. This one goes out on
                # the coordinator's connection before the JoinGroup that follows the hook, and the
                # broker answers a connection's requests in order, so it is stored before the next
                # owner asks for the committed offset; if refused, that owner repeats the range.
                self._consumer.commit_async(offsets, callback=functools.partial(self._committed_before_revoke, pos))
                self.stats.commits_before_revoke += 1  # a refusal is counted in commit_failures
                return
            self._consumer.commit(offsets, timeout_ms=_KAFKA_CALL_MS)
        except CommitFailedError:
            self.stats.commit_failures += 1  # the partition moved to another member, which repeats the range
            _left_uncommitted(pos, "commit refused after a rebalance")
            return
        except (KafkaError, TransientError) as exc:
            self.stats.commit_failures += 1
            _left_uncommitted(pos, f"commit failed, delivered again: {str(exc)[:200]}")
            self._rewind(pos.tp, pos.first, pos.last)
            return
        self.stats.commits += 1
        for reason in [r for _, r in pos.refused] + [d.reason for d in delivery.store_refused]:
            kind = reason.split(" ", 1)[0].rstrip(":")
            self.stats.dead_letters[kind] = self.stats.dead_letters.get(kind, 0) + 1

    def _committed_before_revoke(self, pos: _Position, _offsets: Any, response: Any) -> None:
        if isinstance(response, Exception):
            self.stats.commit_failures += 1
            _left_uncommitted(pos, f"commit before a rebalance refused: {str(response)[:200]}")

    def on_revoke(self, hook: Callable[[float], None]) -> None:
        """`hook(wait_s)` runs inside the `poll` that starts a rebalance, before any partition is
        given up: ingest's write thread (overlap) finishes the write in flight there, waiting at
        most `wait_s`, and `commit`s it, so the partition's next owner starts after that range
        instead of writing it again. kafka-python calls it on its IO thread while this
        thread waits in `poll`; nothing else runs meanwhile."""
        self._revoke_hook = hook

    def owns(self, delivery: Delivery) -> bool:
        """Whether `delivery`'s partition is still this member's since it was delivered (no rebalance took it)."""
        pos = delivery.position
        return isinstance(pos, _Position) and self._inflight.get(pos.tp) is pos and pos.tp in self._consumer.assignment()

    @property
    def assigned(self) -> bool:
        """Whether the group gave this member any partitions yet (joining takes seconds)."""
        return bool(self._consumer.assignment())

    @property
    def gathered_messages(self) -> int:
        """Messages fetched and held in batches not yet delivered (the memory ingest holds)."""
        return sum(len(b.records) for b in list(self._batches.values()))  # read from the metrics thread

    def state(self) -> dict[str, Any]:
        """Where every partition stands, for `kill -USR1` (`gpufleet ingest` logs it beside the
        stacks): assigned, paused, in flight (the range written and not committed), gathered;
        and kafka-python's own view of whether it fetches each one (`workarounds.fetch_state`).
        An assigned partition that is neither in flight nor fetchable is not being read."""

        def name(tp: Any) -> str:
            return f"{tp.topic}/{tp.partition}"

        return {
            "assigned": sorted(name(tp) for tp in self._consumer.assignment()),
            "paused": sorted(name(tp) for tp in self._consumer.paused()),
            "in_flight": {name(tp): [p.first, p.last] for tp, p in list(self._inflight.items())},
            "gathered": {name(tp): [len(b.records), b.end_offset] for tp, b in list(self._batches.items())},
            "journal_unread": sorted(name(tp) for tp in self._fresh),
            "revoking": self._revoking,
            "kafka_python": fetch_state(self._consumer),
        }

    def keepalive(self, timeout_s: float) -> None:
        """Stay in the group while the store is down: fetch nothing, answer the coordinator."""
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.pause(*assigned)
        try:
            records = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        except KafkaError as exc:  # a broker restart while the store is down: stay in the loop
            log.warning("keepalive poll failed; retrying", extra={"error": str(exc)[:200]})
            time.sleep(timeout_s)
            return
        self._accept(records)

    def drain(self) -> None:
        """From now on every gathered batch is ready at once (shutdown: flush, commit, exit)."""
        self._draining = True

    def close(self) -> None:
        for client in (self._consumer, self._ranges, self._admin):
            try:
                client.close()
            except Exception as exc:  # closing against a dead broker may raise anything
                log.debug("kafka close failed", extra={"error": str(exc)[:200]})
        self._dead.close()

    # ---- batches ----------------------------------------------------------------------
    def _accept(self, records: dict[Any, list[Any]]) -> None:
        reread = self._read_journal() if self._fresh else set()
        assigned = self._consumer.assignment()
        for tp, recs in records.items():
            if tp not in assigned or not recs or tp in reread:
                continue
            if tp in self._inflight:  # fetched before the pause took effect: read again after the commit
                self._consumer.seek(tp, min(int(r.offset) for r in recs))
                continue
            batch = self._batches.get(tp)
            if batch is None:
                batch = self._batches[tp] = PartitionBatch(self._topic_id(tp.topic))
            rest = batch.add(recs, self.config.max_batch_messages)
            if rest is not None:  # batch full: fetch the rest again once it is committed
                self._consumer.seek(tp, rest)
                self._consumer.pause(tp)
        if self._crowded():  # memory bound: fetch nothing more until a delivery frees some
            open_ = [tp for tp in assigned if tp not in self._inflight and not self._must_complete(tp)]
            if open_:
                self._consumer.pause(*open_)

    def _resume_open(self) -> None:
        """Fetch again for every partition that has room: not in flight, batch not full (after keepalive)."""
        paused = self._consumer.paused()
        if not paused:
            return
        full = {tp for tp, b in self._batches.items() if b.full(self.config.max_batch_messages)}
        crowded = self._crowded()
        reopen = [tp for tp in paused if tp not in self._inflight and tp not in full and (not crowded or self._must_complete(tp))]
        if reopen:
            self._consumer.resume(*reopen)

    def _crowded(self) -> bool:
        """Whether the batches gathered hold `max_gathered_bytes` or more (read often: a sum over partitions)."""
        return sum(b.value_bytes for b in self._batches.values()) >= self.config.max_gathered_bytes

    def _must_complete(self, tp: Any) -> bool:
        """A batch re-forming a recorded range: it is fetched to its end whatever memory it takes
        (it cannot be cut short, and its size was the previous owner's)."""
        batch = self._batches.get(tp)
        return batch is not None and batch.end_offset is not None

    def _ready(self) -> Any:
        c = self.config
        crowded = self._crowded()
        ready = [
            (b.started_s, tp)
            for tp, b in self._batches.items()
            if tp not in self._inflight
            and b.ready(c.max_batch_messages, c.max_wait_s, self._draining, self._consumer.highwater(tp), c.quiet_s, crowded)
        ]
        return min(ready, key=lambda x: x[0])[1] if ready else None

    def _deliver(self, tp: Any) -> Delivery | None:
        batch = self._batches[tp]
        current = self._topic_id(tp.topic, refresh=True)
        if current == "unknown":
            return None  # cannot tell which incarnation of the topic this is: wait
        if batch.topic_id == "unknown":
            batch.topic_id = current  # first records arrived before the id was ever known (startup)
        if current != batch.topic_id:
            self._reset_topic(tp.topic, current)
            return None
        first, last = int(batch.records[0].offset), int(batch.records[-1].offset)
        if batch.end_offset is None and not self._record_range(tp, last):
            return None
        del self._batches[tp]
        delivery, refused = self._decode(tp, batch)
        delivery.token = batch.token(tp.topic, tp.partition)
        delivery.position = self._inflight[tp] = _Position(tp, first, last, batch.topic_id, refused)
        self._consumer.pause(tp)  # nothing more from this partition until this range is committed
        self.stats.deliveries += 1
        return delivery

    def _decode(self, tp: Any, batch: PartitionBatch) -> tuple[Delivery, list[tuple[Any, str]]]:
        records = batch.records
        values = [r.value if r.value is not None else b"" for r in records]
        limit, window = self.config.max_message_bytes, self.config.time_window
        frame, events, inventory = GpuFrame.empty(), list[GpuEvent](), list[GpuInventory]()
        facility: list[FacilitySample] = []
        jobs: list[JobAssignment] = []
        processes: list[GpuProcesses] = []
        activity: list[GpuInstanceActivity] = []
        refused: list[Refused]
        if tp.topic == topics.SAMPLES:
            frame, refused = decode_samples(values, limit, window)
        elif tp.topic == topics.EVENTS:
            events, refused = decode_models(values, GpuEvent, limit, window)
        elif tp.topic == topics.FACILITY:
            facility, refused = decode_models(values, FacilitySample, limit, window)
        elif tp.topic == topics.JOBS:
            jobs, refused = decode_models(values, JobAssignment, limit, window)
        elif tp.topic == topics.PROCESSES:
            processes, refused = decode_models(values, GpuProcesses, limit, window)
        elif tp.topic == topics.INSTANCE_ACTIVITY:
            activity, refused = decode_models(values, GpuInstanceActivity, limit, window)
        else:  # inventory; a None value is a compaction tombstone, not a message
            live = [i for i, r in enumerate(records) if r.value is not None]
            inventory, refused = decode_models([values[i] for i in live], GpuInventory, limit, window, check_age=False)
            refused = [Refused(live[r.index], r.reason) for r in refused]
        pairs = [(records[r.index], r.reason) for r in refused]
        source = f"{tp.topic}/{tp.partition}"
        dead = [store_letter(source, record, reason) for record, reason in pairs]
        published = min(r.timestamp for r in records) / 1000 if records else 0.0
        delivery = Delivery(
            frame, events, inventory, dead, facility, jobs, messages=len(records), published_at_s=published, processes=processes
        )
        delivery.instance_activity = activity
        return delivery, pairs

    def _record_range(self, tp: Any, last: int) -> bool:
        try:
            self._ranges.commit({tp: OffsetAndMetadata(last + 1, "", -1)}, timeout_ms=_KAFKA_CALL_MS)
        except KafkaError as exc:
            log.warning("cannot record batch range; will retry", extra={"tp": str(tp), "error": str(exc)[:200]})
            return False
        self.stats.ranges_recorded += 1
        return True

    def _read_journal(self) -> set[Any]:
        """For newly assigned partitions: a range recorded beyond the committed offset is repeated exactly.

        Each one is read again from its committed offset: kafka-python may keep the fetch
        position of a partition that a rebalance gave back to the same member, which is past
        a range it delivered but (revoked meanwhile) never committed. Returns the partitions
        whose records fetched so far must be ignored."""
        fresh, self._fresh = self._fresh, set()
        for tp in fresh:
            try:
                committed = self._consumer.committed(tp, timeout_ms=_KAFKA_CALL_MS)
                recorded = self._ranges.committed(tp, timeout_ms=_KAFKA_CALL_MS)
            except KafkaError as exc:
                log.warning("cannot read committed offsets; retrying", extra={"tp": str(tp), "error": str(exc)[:200]})
                self._fresh.add(tp)
                continue
            if committed is None:
                self._consumer.seek_to_beginning(tp)  # auto_offset_reset=earliest
            else:
                self._consumer.seek(tp, committed)
            self._batches.pop(tp, None)
            if recorded is not None and (committed is None or recorded > committed):
                self._batches[tp] = PartitionBatch(self._topic_id(tp.topic), end_offset=recorded - 1)
                self.stats.ranges_repeated += 1
        return fresh

    def _rewind(self, tp: Any, first: int, last: int) -> None:
        if tp in self._consumer.assignment():
            self._batches[tp] = PartitionBatch(self._topic_id(tp.topic), end_offset=last)
            self._consumer.seek(tp, first)

    # ---- topics -----------------------------------------------------------------------
    def _topic_id(self, topic: str, refresh: bool = False) -> str:
        """The topic's id; with `refresh`, as the broker says now, or "unknown" if it cannot say.

        A delivery needs the refreshed id: a recreated topic serves new records at the old
        offsets, and a cached id would put the old id's tokens on them."""
        if (refresh or topic not in self._topic_ids) and not self._load_topic_ids() and refresh:
            return "unknown"
        return self._topic_ids.get(topic, "unknown")

    def _load_topic_ids(self) -> bool:
        try:
            described = self._admin.describe_topics(list(topics.INGESTED))
        except KafkaError as exc:
            log.debug("describe topics failed", extra={"error": str(exc)[:200]})
            return False
        for t in described:
            if t.get("error_code", 0) == 0 and t.get("topic_id"):
                self._topic_ids[t["name"]] = str(t["topic_id"])
            else:
                self._topic_ids.pop(t["name"], None)
        return True

    def _check_topics(self) -> None:
        """Every few seconds: recreate missing topics (a broker that lost its data) and notice new ids."""
        now = time.monotonic()
        if now - self._topics_checked_s < _TOPIC_CHECK_S:
            return
        self._topics_checked_s = now
        known = dict(self._topic_ids)
        self._load_topic_ids()
        if self.config.create_topics and any(t not in self._topic_ids for t in topics.INGESTED):
            try:
                self.stats.topics_created += len(topics.ensure_topics(self._admin, topics.topic_specs(self.settings)))
            except TransientError as exc:
                log.warning("cannot recreate topics", extra={"error": str(exc)[:200]})
            self._load_topic_ids()
        for topic, old in known.items():
            new = self._topic_ids.get(topic)
            if new is not None and new != old:
                self._reset_topic(topic, new)

    def _reset_topic(self, topic: str, new_id: str) -> None:
        """The topic was recreated: what we gathered came from the old one; start the new one from 0."""
        log.warning("topic has a new id; reading it from the start", extra={"topic": topic, "topic_id": new_id})
        self.stats.topic_resets += 1
        for tp in [tp for tp in self._batches if tp.topic == topic]:
            del self._batches[tp]
        for tp in self._consumer.assignment():
            if tp.topic == topic and tp not in self._inflight:
                self._consumer.seek_to_beginning(tp)

    def update_lag(self) -> None:
        """Consumer lag per assigned partition (the high watermark from fetch responses)."""
        lag: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is not None:
                try:
                    lag[(tp.topic, tp.partition)] = max(0, int(high) - int(self._consumer.position(tp, timeout_ms=100)))
                except Exception:  # position unknown right after assignment
                    continue
        self.stats.lag = lag


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalance callbacks: forget what was gathered or delivered for revoked partitions, mark new ones."""

    def __init__(self, sub: KafkaSubscription) -> None:
        self.sub = sub

    def on_partitions_revoked(self, revoked: Any) -> None:
        sub = self.sub
        if sub._revoke_hook is not None and revoked:  # still the owner: what is being written can be committed
            sub._revoking = True
            try:
                sub._revoke_hook(sub._revoke_wait_s)
            finally:
                sub._revoking = False
                self._forget(revoked)
        else:
            self._forget(revoked)

    def _forget(self, revoked: Any) -> None:
        for tp in revoked:
            self.sub._batches.pop(tp, None)
            self.sub._fresh.discard(tp)
            self.sub._inflight.pop(tp, None)  # its commit is refused; the new owner repeats the range

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.sub._fresh.update(assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self._forget(lost)  # no longer a member: a commit would be refused
