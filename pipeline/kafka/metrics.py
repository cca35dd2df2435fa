"""Prometheus metrics and the periodic one-line stats log for `ingest`, `emit` and `collect`.

Counters are read from the stats objects the pipeline keeps anyway (a custom collector),
so the hot path does no extra bookkeeping; latencies are histograms observed where they
happen. Each process gets its own registry, so tests can run several in one interpreter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from storage.base import DeadLetter, QueryResult, Store

stats_log = logging.getLogger("gpufleet.stats")
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StatsCollector(Collector):
    """Exposes `read()`'s numbers: names ending in `_total` become counters, the rest gauges.

    `read()` returns {name: value} or {name: {labels-tuple: value}} with `label_names[name]`.
    """

    def __init__(
        self, read: Callable[[], Mapping[str, Any]], docs: Mapping[str, str], label_names: Mapping[str, Sequence[str]]
    ) -> None:
        self._read = read
        self._docs = docs
        self._labels = label_names

    def collect(self) -> Iterator[Metric]:
        for name, value in self._read().items():
            doc = self._docs.get(name, name)
            labels = list(self._labels.get(name, ()))
            family: CounterMetricFamily | GaugeMetricFamily
            if name.endswith("_total"):
                family = CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
            else:
                family = GaugeMetricFamily(name, doc, labels=labels)
            if labels:
                for key, v in value.items():
                    family.add_metric([str(k) for k in key], float(v))
            else:
                family.add_metric([], float(value))
            yield family


class IngestMetrics:
    """Latency histograms for ingest, observed by `TimedStore` and the ingest loop."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.insert_s = Histogram(
            "gpufleet_ingest_insert_seconds", "one store insert", ["table"], registry=registry, buckets=_LATENCY_BUCKETS_S
        )
        self.freshness_s = Histogram(
            "gpufleet_ingest_freshness_seconds",
            "publish time of a delivery's oldest message to its rows being queryable",
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
        )


class TimedStore:
    """A `Store` that observes each insert's latency; everything else passes through."""

    def __init__(self, inner: Store, metrics: IngestMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def _timed(self, table: str, fn: Callable[[], int]) -> int:
        started = time.monotonic()
        n = fn()
        if n:
            self.metrics.insert_s.labels(table).observe(time.monotonic() - started)
        return n

    def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int:
        return self._timed("gpu_samples", lambda: self.inner.insert_samples(frame, dedup_token))

    def insert_events(self, events: Sequence[GpuEvent], dedup_token: str) -> int:
        return self._timed("gpu_events", lambda: self.inner.insert_events(events, dedup_token))

    def insert_inventory(self, inventory: Sequence[GpuInventory], dedup_token: str) -> int:
        return self._timed("gpu_inventory", lambda: self.inner.insert_inventory(inventory, dedup_token))

    def insert_dead_letters(self, letters: Sequence[DeadLetter], dedup_token: str) -> int:
        return self._timed("dead_letters", lambda: self.inner.insert_dead_letters(letters, dedup_token))

    def insert_facility(self, readings: Sequence[FacilitySample], dedup_token: str) -> int:
        return self._timed("facility_readings", lambda: self.inner.insert_facility(readings, dedup_token))

    def insert_processes(self, processes: Sequence[GpuProcesses], dedup_token: str) -> int:
        return self._timed("gpu_processes", lambda: self.inner.insert_processes(processes, dedup_token))

    def insert_instance_activity(self, activity: Sequence[GpuInstanceActivity], dedup_token: str) -> int:
        return self._timed("gpu_instance_activity", lambda: self.inner.insert_instance_activity(activity, dedup_token))

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        return self.inner.query(sql, parameters)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # extras of the concrete store (e.g. command) pass through
        return getattr(self.inner, name)


def serve(registry: CollectorRegistry, port: int | None, host: str = "0.0.0.0") -> None:
    """Start the `/metrics` endpoint on `port` (None: no endpoint)."""
    if port is not None:
        start_http_server(port, addr=host, registry=registry)


class StatsLine:
    """Logs `line()` every `interval_s` on the `gpufleet.stats` logger (shown at INFO even when quiet)."""

    def __init__(self, line: Callable[[], dict[str, Any]], interval_s: float) -> None:
        self._line = line
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stats-line", daemon=True)
        if stats_log.getEffectiveLevel() > logging.INFO:
            stats_log.setLevel(logging.INFO)

    def start(self) -> StatsLine:
        if self._interval_s > 0:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.log()

    def log(self) -> None:
        stats_log.info("stats", extra=self._line())

    def stop(self) -> None:
        self._stop.set()
