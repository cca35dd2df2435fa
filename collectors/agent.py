"""The collector agent: every interval, sample the source and publish the frame.

Events (XIDs, GPUs lost, recovery actions) are published from the source's callback as
they happen, not at the next tick. The processes on each GPU go out every
`processes_interval_s` (5 s by default, and on the first tick), not with every sample:
they change when jobs start and stop, and one row per process per second would outweigh
the samples. The GPM activity of MIG GPU instances goes out with every sample that has
any. The agent keeps its own schedule: when a tick takes longer than the interval it does
not try to catch up with a burst, it starts the next one on time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from collectors.base import Source
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses


class Publisher(Protocol):
    """What the agent needs from a transport (pipeline.transport.Transport has it)."""

    def publish_samples(self, frame: GpuFrame) -> None: ...

    def publish_events(self, events: Sequence[GpuEvent]) -> None: ...

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None: ...

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None: ...

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None: ...

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None: ...


class FacilitySource(Protocol):
    """Facility sensors sampled on the agent's schedule (the synthetic facility)."""

    def sample(self, ts_ms: int) -> list[FacilitySample]: ...


@dataclass(slots=True)
class AgentStats:
    ticks: int = 0
    rows: int = 0
    events: int = 0
    late_ticks: int = 0  # ticks that started after their slot because the last one overran


class Agent:
    """Runs `source` on a fixed schedule.

    Args:
        interval_s: fleet seconds between samples (the timestamp step).
        speed: how much faster than real time to run; 0 means as fast as possible.
    """

    def __init__(
        self,
        source: Source,
        publisher: Publisher,
        interval_s: float = 1.0,
        speed: float = 1.0,
        facility: FacilitySource | None = None,
        processes_interval_s: float = 5.0,
    ) -> None:
        self.source = source
        self.processes_every = max(1, round(processes_interval_s / interval_s))  # in ticks
        self.facility = facility
        self.publisher = publisher
        self.interval_s = interval_s
        self.speed = speed
        self.stats = AgentStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _on_event(self, event: GpuEvent) -> None:
        self.stats.events += 1
        self.publisher.publish_events([event])

    def run(self, ticks: int | None, start_ms: int) -> AgentStats:
        """Publish inventory, then `ticks` samples (forever when None) from `start_ms`."""
        self.source.open(self._on_event)
        try:
            self.publisher.publish_inventory(self.source.inventory())
            wall_step_s = self.interval_s / self.speed if self.speed > 0 else 0.0
            next_wall = time.monotonic()
            tick = 0
            while (ticks is None or tick < ticks) and not self._stop.is_set():
                ts_ms = start_ms + round(tick * self.interval_s * 1000)
                frame = self.source.sample(ts_ms)
                self.publisher.publish_samples(frame)
                if activity := self.source.instance_activity(ts_ms):
                    self.publisher.publish_instance_activity(activity)
                if tick % self.processes_every == 0:
                    self.publisher.publish_processes(self.source.processes(ts_ms))
                if self.facility is not None:
                    self.publisher.publish_facility(self.facility.sample(ts_ms))
                self.stats.ticks += 1
                self.stats.rows += len(frame)
                tick += 1
                next_wall += wall_step_s
                delay = next_wall - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif wall_step_s:
                    self.stats.late_ticks += 1
                    next_wall = time.monotonic()
        finally:
            self.source.close()
        return self.stats


class FanOut:
    """One `Publisher` that hands everything to several (Kafka and the /metrics exposition)."""

    def __init__(self, *publishers: Publisher) -> None:
        self.publishers = publishers

    def _each(self, publish: Callable[[Publisher], None]) -> None:
        for p in self.publishers:
            publish(p)

    def publish_samples(self, frame: GpuFrame) -> None:
        self._each(lambda p: p.publish_samples(frame))

    def publish_events(self, events: Sequence[GpuEvent]) -> None:
        self._each(lambda p: p.publish_events(events))

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None:
        self._each(lambda p: p.publish_inventory(inventory))

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        self._each(lambda p: p.publish_facility(readings))

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None:
        self._each(lambda p: p.publish_processes(processes))

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None:
        self._each(lambda p: p.publish_instance_activity(activity))
