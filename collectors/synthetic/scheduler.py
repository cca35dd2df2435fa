"""A synthetic scheduler: the fleet's training jobs as Slurm would report them.

The fleet already places its jobs (contiguous runs of whole nodes, `workload.place_jobs`);
this model gives each a Slurm-like id, user, account and a start before the run, and
publishes the same `job_assignment/1` messages the real sources do: a start per node, and,
when one of a job's GPUs is lost (XID 79 / GPU lost), the end of the whole job on every
node two seconds later (state NODE_FAIL). The job is requeued at once under a new id on its nodes without the
failed one, waiting 30-120 s in the queue before it starts again (node-granular; the
failed node stays out until the end of the run). The samples are unchanged by all this:
the fleet's GPUs keep their workload, so a requeued job's GPUs show no gap.

`JobsAlongside` wraps the fleet's `Source` so that the agent runs the scheduler on its tick,
after the sample, and sees the tick's events first; nothing in the agent changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from collectors.base import EventCallback, Source
from collectors.synthetic.fleet import SyntheticFleet
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment, JobGpu
from gpufleet.contract.schema import GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses

USERS = ("alice", "bob", "carol", "dmitri", "eve", "farah", "gus", "hana")
ACCOUNTS = ("pretrain", "rl", "eval", "multimodal")
FIRST_JOB_ID = 100_000
CRASH_DELAY_MS = 2_000  # a job's processes die about this long after one of its GPUs is lost


class JobPublisher(Protocol):
    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None: ...


@dataclass(slots=True)
class _Job:
    job_id: str
    user: str
    account: str
    name: str
    nodes: list[int]  # fleet node numbers
    start_ms: int
    running: bool = False


@dataclass
class SyntheticScheduler:
    fleet: SyntheticFleet
    seed: int = 0
    jobs: dict[str, _Job] = field(default_factory=dict)
    ended: list[str] = field(default_factory=list)
    _lost_nodes: set[int] = field(default_factory=set)
    _node_job: dict[int, str] = field(default_factory=dict)
    _pending_failures: list[tuple[int, int]] = field(default_factory=list)  # (node, when its GPU was lost)
    _next_id: int = FIRST_JOB_ID

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0x10B5])
        topo = self.fleet.topology
        node_job: dict[int, int] = {}
        for gpu, job in enumerate(self.fleet.job_of_gpu.tolist()):
            if job >= 0:
                node_job[int(topo.node_of_gpu[gpu])] = int(job)
        for fleet_job in sorted(set(node_job.values())):
            nodes = sorted(n for n, j in node_job.items() if j == fleet_job)
            started = self.fleet.start_ms - int(rng.uniform(10 * 60_000, 12 * 3_600_000))
            user, account = USERS[int(rng.integers(len(USERS)))], ACCOUNTS[int(rng.integers(len(ACCOUNTS)))]
            self._add(user, account, f"train-{fleet_job}", nodes, started)

    def _add(self, user: str, account: str, name: str, nodes: list[int], start_ms: int) -> _Job:
        job = _Job(str(self._next_id), user, account, name, nodes, start_ms)
        self._next_id += 1
        self.jobs[job.job_id] = job
        return job

    def _message(self, job: _Job, node: int, phase: str, ts_ms: int, state: str = "") -> JobAssignment:
        topo = self.fleet.topology
        gpus = [JobGpu(gpu_index=int(topo.gpu_index[g]), uuid=topo.labels["uuid"].values[topo.labels["uuid"].codes[g]])
                for g in topo.gpus_of_node(node)]  # fmt: skip
        return JobAssignment(
            ts_ms=ts_ms, phase=phase, source="synthetic", cluster=topo.cluster, node=topo.node_name(node),  # type: ignore[arg-type]
            job_id=job.job_id, user=job.user, account=job.account, partition="gpu", name=job.name, gpus=gpus,
            state=state, exit_code=None if phase == "start" else (0 if state == "COMPLETED" else 1),
            start_ms=None if phase == "start" else job.start_ms,
        )  # fmt: skip

    def observe(self, event: GpuEvent) -> None:
        """A lost GPU ends its job at the event's time (applied on the next `tick`)."""
        if event.kind == "gpu_lost" or (event.kind == "xid" and event.xid == 79):
            node = self._node_of(event.node)
            if node is not None:
                self._lost_nodes.add(node)
                self._pending_failures.append((node, event.ts_ms))

    def _node_of(self, name: str) -> int | None:
        topo = self.fleet.topology
        for node in range(topo.n_nodes):
            if topo.node_name(node) == name:
                return node
        return None

    def tick(self, ts_ms: int) -> list[JobAssignment]:
        """Starts due by `ts_ms`, and ends (plus requeues) for GPUs lost since the last tick."""
        out: list[JobAssignment] = []
        for node, lost_ms in self._pending_failures:
            job_id = self._node_job.get(node)
            job = self.jobs.get(job_id or "")
            if job is None or not job.running:
                continue
            ended_ms = lost_ms + CRASH_DELAY_MS  # the loss is inside the job it ended
            out += [self._message(job, n, "end", ended_ms, "NODE_FAIL") for n in job.nodes]
            job.running = False
            self.ended.append(job.job_id)
            for n in job.nodes:
                self._node_job.pop(n, None)
            survivors = [n for n in job.nodes if n not in self._lost_nodes]
            if survivors:
                wait_ms = 30_000 + (int(job.job_id) * 7919) % 90_000  # 30-120 s in the queue
                self._add(job.user, job.account, job.name, survivors, ended_ms + wait_ms)
        self._pending_failures.clear()
        for job in self.jobs.values():
            if not job.running and job.job_id not in self.ended and job.start_ms <= ts_ms:
                job.running = True
                for n in job.nodes:
                    self._node_job[n] = job.job_id
                out += [self._message(job, n, "start", job.start_ms) for n in job.nodes]
        return out


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
        frame = self.source.sample(ts_ms)
        changes = self.scheduler.tick(ts_ms)
        if changes:
            self.publisher.publish_jobs(changes)
        return frame

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        return self.source.processes(ts_ms)

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        return self.source.instance_activity(ts_ms)

    def close(self) -> None:
        self.source.close()
