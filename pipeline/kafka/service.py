"""The ingest service around `pipeline.ingest.Ingest`: metrics, stats line, lag, shutdown.

`gpufleet ingest` builds the parts and calls `run_service`. On stop (SIGTERM) the service
drains: batches already gathered are written and committed, then it returns, so a rolling
restart leaves nothing half-done; a batch whose write fails at that point stays
uncommitted and is delivered again to the next owner of its partition.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.ingest import Ingest, IngestStats
from pipeline.kafka.metrics import IngestMetrics, StatsCollector, StatsLine, TimedStore, serve
from pipeline.kafka.subscription import KafkaSubscription
from storage.base import Store

_LAG_EVERY_S = 5.0
_DRAIN_LIMIT_S = 20.0
_DOCS = {
    "gpufleet_ingest_messages_total": "Kafka messages stored, dropped as repeats or dead-lettered, and committed",
    "gpufleet_ingest_rows_total": "GPU sample rows stored",
    "gpufleet_ingest_deliveries_total": "partition ranges written and committed",
    "gpufleet_ingest_events_total": "GPU events stored",
    "gpufleet_ingest_duplicate_messages_total": "node messages dropped as repeats (per (node, ts): most copies of one GPU row)",
    "gpufleet_ingest_duplicate_rows_total": "GPU sample rows dropped as repeats: their (node, ts, gpu_index) was stored already",
    "gpufleet_ingest_dead_letters_total": "messages sent to the dead-letter topic, by reason",
    "gpufleet_ingest_store_retries_total": "store writes that failed and were retried (busy, down, or needs an operator)",
    "gpufleet_ingest_store_refused_total": "messages the store refused for their rows: isolated and dead-lettered",
    "gpufleet_ingest_dead_letters_lost_total": "dead letters the store refused in turn (counted, not stored)",
    "gpufleet_ingest_commit_failures_total": "offset commits that failed (range delivered again)",
    "gpufleet_ingest_topic_resets_total": "topics that came back with a new id",
    "gpufleet_ingest_ranges_repeated_total": "batches re-formed to a range recorded before a crash or rebalance",
    "gpufleet_ingest_revoked_deliveries_total": "deliveries not committed: a rebalance moved their partition",
    "gpufleet_ingest_commits_before_revoke_total": "writes in flight when a rebalance began, finished and committed first",
    "gpufleet_ingest_consumer_lag": "messages behind the high watermark, per partition",
    "gpufleet_ingest_freshness_last_seconds": "publish to queryable, latest delivery",
    "gpufleet_ingest_gathered_messages": "messages fetched and held in batches not yet written",
}
_LABELS = {"gpufleet_ingest_dead_letters_total": ("reason",), "gpufleet_ingest_consumer_lag": ("topic", "partition")}


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    metrics_port: int | None = None
    stats_interval_s: float = 10.0
    exit_when_idle_s: float | None = None  # tests and one-shot backfills: stop after this long without data
    # The write thread (pipeline.ingest, overlap): a delivery is written while the next is
    # fetched and decoded; a rebalance during a write finishes and commits it first (on_revoke).
    overlap: bool = True


class IngestService:
    """Runs ingest until `stop()` (or idle), exposing metrics and a periodic stats line."""

    def __init__(self, subscription: KafkaSubscription, store: Store, options: ServiceOptions) -> None:
        self.subscription = subscription
        self.options = options
        self.registry = CollectorRegistry()
        self.metrics = IngestMetrics(self.registry)
        self.ingest = Ingest(subscription, TimedStore(store, self.metrics), overlap=options.overlap)
        self.registry.register(StatsCollector(self._numbers, _DOCS, _LABELS))
        self._stop = threading.Event()
        self._last_line = (time.monotonic(), 0)

    def stop(self) -> None:
        """Safe from a signal handler: sets flags only."""
        self._stop.set()
        self.ingest.stop()

    def run(self) -> IngestStats:
        serve(self.registry, self.options.metrics_port)
        line = StatsLine(self._line, self.options.stats_interval_s).start()
        idle_since = lag_at = time.monotonic()
        try:
            while not self._stop.is_set():
                # Idle counts from the first assignment: joining a group is not idleness.
                if self._step(0.5) or not self.subscription.assigned:
                    idle_since = time.monotonic()
                elif self.options.exit_when_idle_s is not None and time.monotonic() - idle_since >= self.options.exit_when_idle_s:
                    break
                if time.monotonic() - lag_at >= _LAG_EVERY_S:
                    self.subscription.update_lag()
                    lag_at = time.monotonic()
            self._drain()
        finally:
            self._finish()
            line.stop()
            line.log()
        return self.ingest.stats

    def _step(self, timeout_s: float) -> bool:
        delivery = self.ingest.step(timeout_s)
        if delivery is None:
            return False
        if delivery.published_at_s:
            self.metrics.freshness_s.observe(self.ingest.stats.freshness_s)
        return True

    def _finish(self) -> None:
        """The write in flight (overlap) ends before the store and the subscription close."""
        delivery = self.ingest.finish()
        self.ingest.close()
        if delivery is not None and delivery.published_at_s:
            self.metrics.freshness_s.observe(self.ingest.stats.freshness_s)

    def _drain(self) -> None:
        """Write and commit what is already gathered; the store gets one try per batch."""
        self.subscription.drain()
        deadline = time.monotonic() + _DRAIN_LIMIT_S
        while time.monotonic() < deadline and self._step(0.0):
            pass

    def _numbers(self) -> dict[str, Any]:
        s, sub = self.ingest.stats, self.subscription.stats
        return {
            "gpufleet_ingest_messages_total": s.messages,
            "gpufleet_ingest_rows_total": s.rows,
            "gpufleet_ingest_deliveries_total": s.deliveries,
            "gpufleet_ingest_events_total": s.events,
            "gpufleet_ingest_duplicate_messages_total": s.duplicate_messages,
            "gpufleet_ingest_duplicate_rows_total": s.duplicate_rows,
            "gpufleet_ingest_dead_letters_total": {(k,): v for k, v in sub.dead_letters.items()},
            "gpufleet_ingest_store_retries_total": s.store_retries,
            "gpufleet_ingest_store_refused_total": s.store_refused,
            "gpufleet_ingest_dead_letters_lost_total": s.dead_letters_lost,
            "gpufleet_ingest_commit_failures_total": sub.commit_failures,
            "gpufleet_ingest_topic_resets_total": sub.topic_resets,
            "gpufleet_ingest_ranges_repeated_total": sub.ranges_repeated,
            "gpufleet_ingest_revoked_deliveries_total": sub.revoked_deliveries,
            "gpufleet_ingest_commits_before_revoke_total": sub.commits_before_revoke,
            "gpufleet_ingest_consumer_lag": dict(sub.lag),
            "gpufleet_ingest_freshness_last_seconds": s.freshness_s,
            "gpufleet_ingest_gathered_messages": self.subscription.gathered_messages,
        }

    def _line(self) -> dict[str, Any]:
        s, sub = self.ingest.stats, self.subscription.stats
        now = time.monotonic()
        since, rows_then = self._last_line
        self._last_line = (now, s.rows)
        return {
            "rows": s.rows,
            "rows_per_s": round((s.rows - rows_then) / max(now - since, 1e-9)),
            "messages": s.messages,
            "deliveries": s.deliveries,
            "dead_letters": s.dead_letters,
            "duplicate_messages": s.duplicate_messages,
            "duplicate_rows": s.duplicate_rows,
            "store_retries": s.store_retries,
            "store_refused": s.store_refused,
            "commit_failures": sub.commit_failures,
            "ranges_repeated": sub.ranges_repeated,
            "topic_resets": sub.topic_resets,
            "lag_max": max(sub.lag.values(), default=0),
            "gathered": self.subscription.gathered_messages,
            "freshness_s": round(s.freshness_s, 3),
            "freshness_max_s": round(s.freshness_max_s, 3),
        }
