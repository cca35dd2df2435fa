"""The in-process transport: a bounded queue between the agent thread and ingest.

It keeps the embedded mode broker-less while behaving like a log: entries get increasing
offsets, a delivery covers a fixed offset range, and an entry leaves the queue only when
ingest commits it. When the queue is full, publishing blocks: the fleet slows down rather
than losing samples.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from gpufleet.contract.frame import GpuFrame, RejectedRows, check_frame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from gpufleet.contract.times import TimeWindow
from pipeline.transport import Delivery
from storage.base import DeadLetter


@dataclass(frozen=True, slots=True)
class _Entry:
    offset: int
    published_at_s: float
    samples: GpuFrame | None = None
    events: Sequence[GpuEvent] = ()
    inventory: Sequence[GpuInventory] = ()
    facility: Sequence[FacilitySample] = ()
    jobs: Sequence[JobAssignment] = ()
    processes: Sequence[GpuProcesses] = ()
    instance_activity: Sequence[GpuInstanceActivity] = ()


class MemoryBroker:
    """A single-partition log in memory, shared by one publisher and one subscriber.

    Args:
        max_pending_rows: publishing blocks while more GPU rows than this are uncommitted.
        max_batch_rows: a delivery stops adding entries once it holds this many rows.
        window: sample, event and reading times accepted; the rest is dead-lettered.
    """

    def __init__(
        self, max_pending_rows: int = 2_000_000, max_batch_rows: int = 500_000, window: TimeWindow | None = None
    ) -> None:
        self.max_pending_rows = max_pending_rows
        self.window = window or TimeWindow()
        self.max_batch_rows = max_batch_rows
        self.run_id = uuid.uuid4().hex[:12]  # tokens from another run never collide
        self._log: deque[_Entry] = deque()
        self._offsets = itertools.count()
        self._pending_rows = 0
        self._read_upto = 0  # entries handed out but not committed stay in _log
        self._cond = threading.Condition()
        self._closed = False

    # ---- Transport ------------------------------------------------------------------
    def publish_samples(self, frame: GpuFrame) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending_rows < self.max_pending_rows or self._closed)
            self._append(_Entry(next(self._offsets), time.time(), samples=frame))
            self._pending_rows += len(frame)

    def publish_events(self, events: Sequence[GpuEvent]) -> None:
        self._add_batch(events, lambda offset, at_s: _Entry(offset, at_s, events=tuple(events)))

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None:
        self._add_batch(inventory, lambda offset, at_s: _Entry(offset, at_s, inventory=tuple(inventory)))

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        self._add_batch(readings, lambda offset, at_s: _Entry(offset, at_s, facility=tuple(readings)))

    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None:
        self._add_batch(jobs, lambda offset, at_s: _Entry(offset, at_s, jobs=tuple(jobs)))

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None:
        self._add_batch(processes, lambda offset, at_s: _Entry(offset, at_s, processes=tuple(processes)))

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None:
        self._add_batch(activity, lambda offset, at_s: _Entry(offset, at_s, instance_activity=tuple(activity)))

    def _add_batch(self, items: Sequence[object], entry: Callable[[int, float], _Entry]) -> None:
        """Append `entry(offset, now)` unless `items` is empty (an empty batch is no entry)."""
        if items:
            with self._cond:
                self._append(entry(next(self._offsets), time.time()))

    def _append(self, entry: _Entry) -> None:
        self._log.append(entry)
        self._cond.notify_all()

    def flush(self, timeout_s: float) -> None:
        """Wait until ingest has committed everything published (or the timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._log or self._closed, timeout=timeout_s)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- Subscription ---------------------------------------------------------------
    def poll(self, timeout_s: float) -> Delivery | None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._log) > self._read_upto, timeout=timeout_s):
                return None
            batch = self._take_batch()
        return _deliver(batch, self.run_id, self.window)

    def _take_batch(self) -> list[_Entry]:
        batch: list[_Entry] = []
        rows = 0
        for entry in itertools.islice(self._log, self._read_upto, None):
            batch.append(entry)
            rows += len(entry.samples) if entry.samples is not None else 0
            if rows >= self.max_batch_rows:
                break
        self._read_upto += len(batch)
        return batch

    def commit(self, delivery: Delivery) -> None:
        last = delivery.position
        with self._cond:
            while self._log and self._log[0].offset <= last:  # type: ignore[operator]
                entry = self._log.popleft()
                self._read_upto -= 1
                self._pending_rows -= len(entry.samples) if entry.samples is not None else 0
            self._cond.notify_all()

    def rewind(self) -> None:
        """Hand out uncommitted entries again (what a restarted consumer would see)."""
        with self._cond:
            self._read_upto = 0

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    @property
    def backlog(self) -> int:
        """Entries published and not yet committed."""
        return len(self._log)


def _deliver(batch: list[_Entry], run_id: str, window: TimeWindow) -> Delivery:
    frames = [e.samples for e in batch if e.samples is not None]
    # the window first: check_frame keys messages by (node, ts mod 2**44), which only a sane ts keeps apart
    samples, late = _in_window(GpuFrame.concat(frames), window)
    samples, rejected = check_frame(samples)
    first, last = batch[0].offset, batch[-1].offset
    source = f"memory@{first}-{last}"
    dead = [
        DeadLetter(source=source, reason=r.reason, payload=f"node={r.node} ts_ms={r.ts_ms}", node=r.node) for r in rejected + late
    ]
    return Delivery(
        samples=samples,
        events=_timed([e for entry in batch for e in entry.events], window, source, dead),
        inventory=_timed([i for entry in batch for i in entry.inventory], window, source, dead, check_age=False),
        facility=_timed([r for entry in batch for r in entry.facility], window, source, dead),
        jobs=_timed([j for entry in batch for j in entry.jobs], window, source, dead),
        processes=_timed([p for entry in batch for p in entry.processes], window, source, dead),
        instance_activity=_timed([a for entry in batch for a in entry.instance_activity], window, source, dead),
        dead_letters=dead,
        token=f"memory:{run_id}:{first}-{last}",
        position=last,
        messages=len(batch),
        published_at_s=batch[0].published_at_s,
    )


_Timed = TypeVar("_Timed", GpuEvent, GpuInventory, FacilitySample, JobAssignment, GpuProcesses, GpuInstanceActivity)


def _timed(items: list[_Timed], window: TimeWindow, source: str, dead: list[DeadLetter], check_age: bool = True) -> list[_Timed]:
    """`items` inside `window`; the others are appended to `dead` with the reason."""
    now_ms = int(time.time() * 1000)
    # per distinct time, not per item: a tick's ~2,000 facility readings share one
    reasons = {ts: window.reason(ts, now_ms, check_age) for ts in {item.ts_ms for item in items}}
    kept = []
    for item in items:
        reason = reasons[item.ts_ms]
        if reason:
            dead.append(DeadLetter(source, f"out of time window: {reason}", item.model_dump_json(by_alias=True)))
        else:
            kept.append(item)
    return kept


def _in_window(frame: GpuFrame, window: TimeWindow) -> tuple[GpuFrame, list[RejectedRows]]:
    """The frame without node messages whose time is outside `window`, and those messages."""
    outside = window.outside(frame.ts_ms)
    if not outside.any():
        return frame, []
    now_ms = int(time.time() * 1000)
    node = frame.labels["node"]
    keys = sorted({(node.values[c], t) for c, t in zip(node.codes[outside].tolist(), frame.ts_ms[outside].tolist(), strict=True)})
    late = [RejectedRows(n, t, f"out of time window: {window.reason(t, now_ms)}") for n, t in keys]
    return frame.take(np.flatnonzero(~outside)), late
