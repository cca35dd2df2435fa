"""A job source polled inside the collector, on its own schedule, off the sample tick.

`PolledJobs` wraps the collector's `Source`: a thread calls the job source's `poll` every
`interval_s` (the kubelet's `List`, which dcgm-exporter runs on every scrape at a cost users
measured in cores), and the job messages it returns are handed to the collector's own
transport on the agent's thread, after the next sample, so the transport is never used from
two threads. A poll that fails (kubelet down, socket missing, a bad answer) is counted and
logged (the first time, then when the error changes), never raised: samples keep flowing,
and the next round tries again. So a Kubernetes DaemonSet needs one container: the
collector already holds NVML, whose inventory maps the kubelet's GPU UUIDs to indices.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from collectors.base import EventCallback, Source
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import GpuInstanceActivity, GpuInventory, GpuProcesses

log = logging.getLogger(__name__)

Poll = Callable[[int], list[JobAssignment]]


class JobPublisher(Protocol):
    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None: ...


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    errors: int = 0
    messages: int = 0  # job messages handed to the transport

    def summary(self, prefix: str) -> dict[str, int]:
        return {f"{prefix}_polls": self.polls, f"{prefix}_poll_errors": self.errors, f"{prefix}_job_messages": self.messages}


class PolledJobs:
    """`source`, plus a job source polled every `interval_s` whose messages go to the bound publisher.

    Args:
        make_poll: builds the poll from the source's inventory once the source is open
            (the kubelet source needs this node's UUID → index map).
        name: the job source's kind, for logs and the summary's counters.
    """

    def __init__(self, source: Source, make_poll: Callable[[list[GpuInventory]], Poll], interval_s: float,
                 name: str = "kubelet", clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.source, self.make_poll, self.interval_s, self.name, self.clock = source, make_poll, interval_s, name, clock
        self.stats = PollStats()
        self.publisher: JobPublisher | None = None
        self._ready: queue.SimpleQueue[list[JobAssignment]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    def bind(self, publisher: JobPublisher) -> None:
        """Where the job messages go: the collector's transport, once it exists."""
        self.publisher = publisher

    def open(self, on_event: EventCallback) -> None:
        self.source.open(on_event)
        poll = self.make_poll(self.source.inventory())
        self._thread = threading.Thread(target=self._run, args=(poll,), name=f"{self.name}-poll", daemon=True)
        self._thread.start()

    def _run(self, poll: Poll) -> None:
        while not self._stop.is_set():
            self.stats.polls += 1
            try:
                changes = poll(int(self.clock() * 1000))
            except Exception as exc:  # any failure of the job source is its own, never the collector's
                self._failed(exc)
            else:
                self._last_error = ""
                if changes:
                    self._ready.put(changes)
            self._stop.wait(self.interval_s)

    def _failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        text = f"{type(exc).__name__}: {exc}"[:300]
        if text != self._last_error:  # once per outage, not once per round
            log.error(f"{self.name} poll failed; samples continue, retrying every {self.interval_s:g} s",
                      extra={"error": text, "errors": self.stats.errors})  # fmt: skip
        self._last_error = text

    def _hand_on(self) -> None:
        while self.publisher is not None:
            try:
                changes = self._ready.get_nowait()
            except queue.Empty:
                return
            self.publisher.publish_jobs(changes)
            self.stats.messages += len(changes)

    def inventory(self) -> list[GpuInventory]:
        return self.source.inventory()

    def sample(self, ts_ms: int) -> GpuFrame:
        frame = self.source.sample(ts_ms)
        self._hand_on()
        return frame

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        return self.source.processes(ts_ms)

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        return self.source.instance_activity(ts_ms)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._hand_on()  # what the last round found still goes out
        self.source.close()
        if self.stats.errors:
            log.warning(f"{self.name} polls failed", extra=self.stats.summary(self.name))


def bind_job_publisher(source: Any, publisher: JobPublisher) -> None:
    """Point a `PolledJobs` source at `publisher` (the collector's transport); others need none."""
    if isinstance(source, PolledJobs):
        source.bind(publisher)


def poll_summary(source: Any) -> dict[str, int]:
    """The poll counters for a run summary (empty when the collector polls no job source)."""
    return source.stats.summary(source.name) if isinstance(source, PolledJobs) else {}
