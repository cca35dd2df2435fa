"""A batch queue over whole nodes: FIFO with EASY backfill, as Slurm's `sched/backfill` runs it.

Jobs wait in submission order. The first one (the head) starts as soon as enough nodes are
free; while it cannot, it gets a reservation at the earliest time enough nodes will be free
(from the running jobs' end times, which the model knows exactly: a job's time limit is its
run time), and a later job may jump ahead only if it fits in the free nodes now and either
ends before that reservation or leaves enough nodes for it (EASY backfill: the head is never
delayed, only the head is protected). A requeued job goes back to the front and is held for
its requeue delay; the reservation then starts no earlier than that. A job larger than the
nodes still in service (lost nodes are drained) can never run and stays pending without
blocking the others, as Slurm leaves it pending.

Nodes are handed out whole, preferring the first contiguous run of free nodes that fits (what
a topology-aware placement aims for), else the lowest-numbered free nodes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

NEVER_MS = 2**62


@dataclass(slots=True)
class QueuedJob:
    """One job: its size in nodes, its run time, and once started, where and until when."""

    serial: int
    n_nodes: int
    duration_ms: int
    submit_ms: int
    eligible_ms: int = 0  # requeued jobs wait this long before they may start again
    start_ms: int | None = None
    end_ms: int | None = None  # known at start: start + duration (or the crash, once it ends early)
    nodes: tuple[int, ...] = ()


class NodeQueue:
    """Free nodes, running jobs, waiting jobs; `schedule(now)` starts what may start."""

    def __init__(self, n_nodes: int) -> None:
        self.free: list[int] = list(range(n_nodes))  # sorted
        self.drained: set[int] = set()
        self.running: dict[int, QueuedJob] = {}
        self.waiting: list[QueuedJob] = []
        self.n_nodes = n_nodes

    @property
    def in_service(self) -> int:
        return self.n_nodes - len(self.drained)

    def submit(self, job: QueuedJob, front: bool = False) -> None:
        self.waiting.insert(0, job) if front else self.waiting.append(job)

    def schedule(self, now_ms: int) -> list[QueuedJob]:
        """Start the jobs that may start at `now_ms`, FIFO then EASY backfill; returns them."""
        started: list[QueuedJob] = []
        while True:
            runnable = [j for j in self.waiting if j.n_nodes <= self.in_service]
            if not runnable:
                return started
            head = runnable[0]
            if head.eligible_ms <= now_ms and head.n_nodes <= len(self.free):
                started.append(self._start(head, now_ms))
                continue
            shadow_ms, extra = self._reservation(head, now_ms)
            for job in runnable[1:]:
                if job.eligible_ms > now_ms or job.n_nodes > len(self.free):
                    continue
                ends_in_time = now_ms + job.duration_ms <= shadow_ms
                if ends_in_time or job.n_nodes <= extra:
                    started.append(self._start(job, now_ms))
                    if not ends_in_time:
                        extra -= job.n_nodes
            return started

    def _reservation(self, head: QueuedJob, now_ms: int) -> tuple[int, int]:
        """When the head can start at the earliest, and how many nodes it leaves over then."""
        avail, shadow_ms = len(self.free), max(now_ms, head.eligible_ms)
        if avail >= head.n_nodes:  # only its requeue delay holds it
            return shadow_ms, avail - head.n_nodes
        ends = sorted((j.end_ms or now_ms, sum(n not in self.drained for n in j.nodes)) for j in self.running.values())
        for end_ms, n_nodes in ends:
            avail += n_nodes
            if avail >= head.n_nodes:
                return max(shadow_ms, end_ms), avail - head.n_nodes
        return NEVER_MS, 0

    def _start(self, job: QueuedJob, now_ms: int) -> QueuedJob:
        self.waiting.remove(job)
        job.nodes = self._take(job.n_nodes)
        job.start_ms, job.end_ms = now_ms, now_ms + job.duration_ms
        self.running[job.serial] = job
        return job

    def _take(self, n: int) -> tuple[int, ...]:
        free = self.free
        run_start = 0
        for i in range(1, len(free) + 1):
            if i == len(free) or free[i] != free[i - 1] + 1:  # a contiguous run ends at i
                if i - run_start >= n:
                    taken = free[run_start : run_start + n]
                    del free[run_start : run_start + n]
                    return tuple(taken)
                run_start = i
        taken, self.free = free[:n], free[n:]
        return tuple(taken)

    def finish(self, serial: int, end_ms: int) -> QueuedJob:
        """End a running job at `end_ms`; its nodes not drained meanwhile are free again."""
        job = self.running.pop(serial)
        job.end_ms = end_ms
        for node in job.nodes:
            if node not in self.drained:
                bisect.insort(self.free, node)
        return job

    def drain(self, node: int) -> None:
        """Take `node` out of service for good (its GPU was lost)."""
        self.drained.add(node)
        i = bisect.bisect_left(self.free, node)
        if i < len(self.free) and self.free[i] == node:
            del self.free[i]

    def job_on(self, node: int) -> QueuedJob | None:
        for job in self.running.values():
            if node in job.nodes:
                return job
        return None
