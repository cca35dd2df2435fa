"""The `Transport` seam: how samples travel from collectors to ingest.

Two implementations, chosen by configuration: `memory` (in-process, the embedded default;
no broker) and `kafka`. The publishing side takes whole frames; a transport with a wire
(Kafka) splits them into one message per node and tick. The consuming side hands ingest a
`Delivery`: everything decoded and checked from one fixed range of positions, with the
dedup token for that range, so a retried delivery inserts exactly the same rows again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from storage.base import DeadLetter


class Transport(Protocol):
    """Publishing side. `publish_*` may block while the transport is full (backpressure)
    and never drops silently: anything it must drop is counted in its stats."""

    def publish_samples(self, frame: GpuFrame) -> None: ...

    def publish_events(self, events: Sequence[GpuEvent]) -> None: ...

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None: ...

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None: ...

    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None: ...
    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None: ...
    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None: ...

    def flush(self, timeout_s: float) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Delivery:
    """One batch for ingest: store all of it, then `commit` it.

    Attributes:
        token: identifies exactly this range of positions; the store deduplicates on it.
        position: opaque to ingest; what `commit` needs.
        messages: how many transport messages the range held (valid or not).
        published_at_s: wall-clock time the oldest message was published (freshness).
        store_refused: filled by ingest: messages the store refused for their rows, as dead
            letters (already in the store's `dead_letters`); `commit` may send them on (Kafka:
            the dead-letter topic).
    """

    samples: GpuFrame
    events: list[GpuEvent] = field(default_factory=list)
    inventory: list[GpuInventory] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    facility: list[FacilitySample] = field(default_factory=list)
    jobs: list[JobAssignment] = field(default_factory=list)
    token: str = ""
    position: object = None
    messages: int = 0
    published_at_s: float = 0.0
    processes: list[GpuProcesses] = field(default_factory=list)
    store_refused: list[DeadLetter] = field(default_factory=list)
    instance_activity: list[GpuInstanceActivity] = field(default_factory=list)


class Subscription(Protocol):
    """Consuming side. `poll` returns None when nothing arrived within `timeout_s`.
    A delivery not committed is delivered again, with the same token, after a restart
    (Kafka) or on the next `poll` after `rewind()` (memory)."""

    def poll(self, timeout_s: float) -> Delivery | None: ...

    def commit(self, delivery: Delivery) -> None: ...

    def close(self) -> None: ...
