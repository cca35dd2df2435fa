"""A synthetic scheduler: a batch queue of training jobs on the fleet, reported as Slurm would.

Jobs have 1 to 512 whole nodes (8 to 4,096 GPUs, at most half the fleet), powers of two with
weights 0.55^k for 2^k nodes: most jobs are small, but the few large ones hold most of the
GPU-time, as in published cluster traces. Run times are log-uniform between 20 minutes and
12 hours. The queue is kept backlogged, as on a busy training cluster: whenever fewer than
`BACKLOG_JOBS` wait, a user submits another (seeded draws), so jobs queue while the fleet is
full and nodes idle only while the queue holds them for a large job or a share of the nodes
(`idle_node_share` of the scenario) is out of the partition (reserved, in maintenance).
`queue.NodeQueue` allocates whole nodes, FIFO with EASY backfill. The model runs for 36 h of
fleet time before the run starts, so the run opens on a fleet in its steady state: the jobs
then running are published as starts at the first tick, with their real (earlier) start times.

During the run, the scheduler starts and ends jobs at their event times and publishes the
same `job_assignment/1` messages the real sources do: a start per node, an end per node
(COMPLETED). When one of a job's GPUs is lost (XID 79 / GPU lost) its node is drained and
the whole job ends two seconds later on every node (NODE_FAIL); it is requeued at the front
of the queue under a new id, one node smaller (at least one), for its remaining run time,
held 30-120 s. The fleet's workload follows the schedule (`SyntheticFleet.assign_jobs`):
a GPU is busy exactly while a job holds it. Everything is deterministic for a seed.

`JobsAlongside` wraps the fleet's `Source` so that the agent runs the scheduler on its tick,
before the sample (a job that ended by then is idle in it), and sees the tick's events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from collectors.base import EventCallback, Source
from collectors.synthetic import workload
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.queue import NEVER_MS, NodeQueue, QueuedJob
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment, JobGpu
from gpufleet.contract.schema import GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses

USERS = ("alice", "bob", "carol", "dmitri", "eve", "farah", "gus", "hana")
ACCOUNTS = ("pretrain", "rl", "eval", "multimodal")
FIRST_JOB_ID = 100_000
CRASH_DELAY_MS = 2_000  # a job's processes die about this long after one of its GPUs is lost
MAX_JOB_NODES = 512  # 4,096 GPUs
SIZE_DECAY = 0.55  # weight of 2^k nodes relative to 2^(k-1)
DURATION_S = (20 * 60.0, 12 * 3600.0)
WARMUP_MS = 36 * 3_600_000
BACKLOG_JOBS = 8
REQUEUE_HOLD_MS = (30_000, 120_000)
# the workload's per-job cycle, as `workload.place_jobs` draws it
CYCLE = {"period_s": (4.0, 10.0), "compute_share": (0.65, 0.85), "phase_s": (0.0, 10.0),
         "ckpt_every_s": (120.0, 600.0), "ckpt_offset_s": (0.0, 600.0), "ckpt_len_s": (15.0, 40.0)}  # fmt: skip


class JobPublisher(Protocol):
    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None: ...


@dataclass(slots=True)
class _Meta:
    job_id: str
    user: str
    account: str
    name: str
    cycle: dict[str, float]
    crashed_ms: int | None = None


def size_weights(max_nodes: int) -> tuple[list[int], list[float]]:
    """The job sizes in nodes (powers of two up to half of `max_nodes`) and their probabilities."""
    if max_nodes <= 0:
        return [1], [1.0]
    cap = min(max(max_nodes // 2, 1), MAX_JOB_NODES)  # one job never takes the whole fleet
    sizes = [2**k for k in range(10) if 2**k <= cap]
    weights = [SIZE_DECAY**k for k in range(len(sizes))]
    return sizes, [w / sum(weights) for w in weights]


@dataclass
class SyntheticScheduler:
    """The queue on `fleet`; `tick(ts_ms)` advances it and returns the job messages due."""

    fleet: SyntheticFleet
    seed: int = 0
    duration_s: tuple[float, float] = DURATION_S
    warmup_ms: int = WARMUP_MS
    arrivals_until_ms: int | None = None  # no arrivals after this (lets the queue drain)
    jobs: dict[int, QueuedJob] = field(default_factory=dict)  # by serial, every job ever submitted
    ended: list[str] = field(default_factory=list)  # job ids, in the order they ended
    meta: dict[int, _Meta] = field(default_factory=dict)

    def __post_init__(self) -> None:
        topo = self.fleet.topology
        self._first_node = int(topo.node_of_gpu[0]) if topo.n_gpus else 0
        self._local_node = topo.node_of_gpu - self._first_node
        n_nodes = int(self._local_node[-1]) + 1 if topo.n_gpus else 0
        self._node_by_name = {topo.node_name(self._first_node + n): n for n in range(n_nodes)}
        self.queue = NodeQueue(n_nodes)
        self._rng = np.random.default_rng([self.seed, 0x10B5])
        for node in np.flatnonzero(self._rng.random(n_nodes) < self.fleet.scenario.idle_node_share).tolist():
            self.queue.drain(node)  # out of the partition for the whole run
        self._sizes, self._probs = size_weights(self.queue.in_service)
        self._next_serial = 0
        self._pending_failures: list[tuple[int, int]] = []  # (node, when its GPU was lost)
        self._live = False
        self._now_ms = -NEVER_MS
        self._kick_ms = self.fleet.start_ms - self.warmup_ms  # the first event: users fill the queue
        self._advance(self.fleet.start_ms - 1, [])  # the fleet before the run: no messages
        self._live = True
        self._announce = sorted(self.queue.running)  # started before the run, published at the first tick
        self.fleet.assign_jobs(self._workload())

    # ---- jobs ------------------------------------------------------------------------
    def _new(self, n_nodes: int, duration_ms: int, submit_ms: int, like: _Meta | None = None) -> QueuedJob:
        serial = self._next_serial
        self._next_serial += 1
        job = QueuedJob(serial, n_nodes, duration_ms, submit_ms)
        rng = self._rng
        if like is None:
            user, account = USERS[int(rng.integers(len(USERS)))], ACCOUNTS[int(rng.integers(len(ACCOUNTS)))]
            kind = "pretrain" if n_nodes >= 64 else "finetune" if n_nodes >= 4 else "eval"
            cycle = {k: float(rng.uniform(*bounds)) for k, bounds in CYCLE.items()}
            like = _Meta("", user, account, f"{kind}-{serial}", cycle)
        self.meta[serial] = _Meta(str(FIRST_JOB_ID + serial), like.user, like.account, like.name, like.cycle)
        self.jobs[serial] = job
        return job

    def _arrive(self, at_ms: int) -> None:
        n_nodes = int(self._rng.choice(self._sizes, p=self._probs))
        lo, hi = self.duration_s
        duration_ms = round(math.exp(self._rng.uniform(math.log(lo), math.log(hi))) * 1000)
        self.queue.submit(self._new(n_nodes, duration_ms, at_ms))

    def _message(self, serial: int, node: int, phase: str, ts_ms: int, state: str = "") -> JobAssignment:
        topo, meta, job = self.fleet.topology, self.meta[serial], self.jobs[serial]
        uuid = topo.labels["uuid"]
        gpus = [JobGpu(gpu_index=int(topo.gpu_index[g]), uuid=uuid.values[uuid.codes[g]])
                for g in topo.gpus_of_node(self._first_node + node)]  # fmt: skip
        return JobAssignment(
            ts_ms=ts_ms, phase=phase, source="synthetic", cluster=topo.cluster, node=topo.node_name(self._first_node + node),  # type: ignore[arg-type]
            job_id=meta.job_id, user=meta.user, account=meta.account, partition="gpu", name=meta.name, gpus=gpus,
            state=state, exit_code=None if phase == "start" else (0 if state == "COMPLETED" else 1),
            start_ms=None if phase == "start" else job.start_ms,
        )  # fmt: skip

    def job_id(self, serial: int) -> str:
        return self.meta[serial].job_id

    # ---- time ------------------------------------------------------------------------
    def observe(self, event: GpuEvent) -> None:
        """A lost GPU drains its node and ends its job two seconds later (applied on the next `tick`)."""
        if event.kind == "gpu_lost" or (event.kind == "xid" and event.xid == 79):
            node = self._node_by_name.get(event.node)
            if node is not None:
                self._pending_failures.append((node, event.ts_ms))

    def tick(self, ts_ms: int) -> list[JobAssignment]:
        """The job messages for everything that happened up to `ts_ms`; the fleet's workload follows."""
        out = [self._message(s, n, "start", self.jobs[s].start_ms or ts_ms) for s in self._announce for n in self.jobs[s].nodes]
        self._announce = []
        for node, lost_ms in self._pending_failures:
            self.queue.drain(node)
            job = self.queue.job_on(node)
            if job is not None and self.meta[job.serial].crashed_ms is None and (job.end_ms or 0) > lost_ms:
                self.meta[job.serial].crashed_ms = lost_ms
                job.end_ms = min(job.end_ms or lost_ms, lost_ms + CRASH_DELAY_MS)  # the loss is inside the job it ends
        self._pending_failures.clear()
        if self._advance(ts_ms, out):
            self.fleet.assign_jobs(self._workload())
        return out

    def _advance(self, until_ms: int, out: list[JobAssignment]) -> bool:
        """Process arrivals, ends and requeue holds up to `until_ms` in time order; True if any job started or ended."""
        changed = False
        queue = self.queue
        while True:
            ends = [j.end_ms for j in queue.running.values() if j.end_ms is not None]
            holds = [j.eligible_ms for j in queue.waiting if j.eligible_ms > self._now_ms]
            at_ms = min([self._kick_ms, *ends, *holds])
            if at_ms > until_ms:
                return changed
            self._now_ms, self._kick_ms = at_ms, NEVER_MS
            for job in [j for j in queue.running.values() if j.end_ms is not None and j.end_ms <= at_ms]:
                self._end(job, out)
                changed = True
            submitting = self.arrivals_until_ms is None or at_ms <= self.arrivals_until_ms
            while submitting and len(queue.waiting) < BACKLOG_JOBS:
                self._arrive(at_ms)
            for job in queue.schedule(at_ms):
                if self._live:
                    out += [self._message(job.serial, n, "start", at_ms) for n in job.nodes]
                changed = True

    def _end(self, job: QueuedJob, out: list[JobAssignment]) -> None:
        meta = self.meta[job.serial]
        end_ms = job.end_ms or 0
        self.queue.finish(job.serial, end_ms)
        self.ended.append(meta.job_id)
        state = "COMPLETED" if meta.crashed_ms is None else "NODE_FAIL"
        if self._live:
            out += [self._message(job.serial, n, "end", end_ms, state) for n in job.nodes]
        if meta.crashed_ms is not None:
            remaining_ms = max((job.start_ms or 0) + job.duration_ms - end_ms, 10 * 60_000)
            again = self._new(max(job.n_nodes - 1, 1), remaining_ms, end_ms, like=meta)
            again.eligible_ms = end_ms + REQUEUE_HOLD_MS[0] + (job.serial * 7919) % (REQUEUE_HOLD_MS[1] - REQUEUE_HOLD_MS[0])
            self.queue.submit(again, front=True)

    def _workload(self) -> workload.Jobs:
        """The fleet's per-GPU job parameters for the jobs running now (idle GPUs: job -1)."""
        n_nodes = self.queue.n_nodes
        node_job = np.full(n_nodes, -1, dtype=np.int64)
        cycle = {k: np.ones(n_nodes) for k in CYCLE}
        for job in self.queue.running.values():
            nodes = list(job.nodes)
            node_job[nodes] = FIRST_JOB_ID + job.serial
            for k, v in self.meta[job.serial].cycle.items():
                cycle[k][nodes] = v
        local = self._local_node
        return workload.Jobs(job=node_job[local], **{k: v[local] for k, v in cycle.items()})


class JobsAlongside:
    """A `Source` that runs `scheduler` on each tick and publishes its job messages."""

    def __init__(self, source: Source, scheduler: SyntheticScheduler, publisher: JobPublisher) -> None:
        self.source = source
        self.scheduler = scheduler
        self.publisher = publisher
        self._on_event: EventCallback | None = None

    def open(self, on_event: EventCallback) -> None:
        def both(event: GpuEvent) -> None:
            self.scheduler.observe(event)
            on_event(event)

        self.source.open(both)

    def inventory(self) -> list[GpuInventory]:
        return self.source.inventory()

    def sample(self, ts_ms: int) -> GpuFrame:
        changes = self.scheduler.tick(self.scheduler.fleet.now_ms)  # before the sample: it shows the new placement
        if changes:
            self.publisher.publish_jobs(changes)
        return self.source.sample(ts_ms)

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        return self.source.processes(ts_ms)

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        return self.source.instance_activity(ts_ms)

    def close(self) -> None:
        self.source.close()
