"""The synthetic scheduler's queue: whole nodes, no GPU in two jobs, FIFO with EASY backfill,
the queue drains, a lost GPU ends exactly its job, and the fleet's workload follows the schedule."""

from __future__ import annotations

import itertools

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.queue import NodeQueue, QueuedJob
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import MAX_JOB_NODES, SyntheticScheduler, size_weights
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import GpuEvent

START_MS = 1_795_000_000_000


def _run(
    gpus: int, seed: int, ticks: int, interval_s: float = 1.0, **kw: object
) -> tuple[SyntheticScheduler, list[JobAssignment]]:
    fleet = SyntheticFleet(gpus, seed, load_scenario("none"), START_MS, interval_s, ticks * interval_s)
    scheduler = SyntheticScheduler(fleet, seed, **kw)  # type: ignore[arg-type]
    out: list[JobAssignment] = []
    for _ in range(ticks):
        out += scheduler.tick(fleet.now_ms)
        fleet.tick()
    return scheduler, out


def _intervals(messages: list[JobAssignment]) -> dict[tuple[str, str], list[int | None]]:
    """(job, node) -> [start_ms, end_ms], from the messages alone."""
    out: dict[tuple[str, str], list[int | None]] = {}
    for m in messages:
        span = out.setdefault((m.job_id, m.node), [None, None])
        if m.phase == "start":
            assert span[0] is None, f"two starts for {m.job_id} on {m.node}"
            span[0] = m.ts_ms
        else:
            assert span[1] is None and m.start_ms == span[0], f"end of {m.job_id} on {m.node} without its start"
            span[1] = m.ts_ms
    return out


def test_no_node_in_two_jobs_at_once_and_sizes_are_whole_nodes() -> None:
    # 30 s ticks for 12 h: many jobs start and end in the run
    scheduler, messages = _run(1024, 5, 1440, interval_s=30.0)
    spans = _intervals(messages)
    ends = [m for m in messages if m.phase == "end"]
    assert len({m.job_id for m in ends}) >= 20 and {m.state for m in ends} == {"COMPLETED"}
    per_node: dict[str, list[tuple[int, int]]] = {}
    for (_, node), (start, end) in spans.items():
        assert start is not None
        per_node.setdefault(node, []).append((start, end if end is not None else 2**62))
    for node, spans_of in per_node.items():
        spans_of.sort()
        for (_, end), (start, _) in itertools.pairwise(spans_of):
            assert start >= end, f"{node} in two jobs at once"
    gpus_of: dict[str, int] = {}
    for m in messages:
        if m.phase == "start":
            assert sorted(g.gpu_index for g in m.gpus) == list(range(8))  # whole nodes
            gpus_of[m.job_id] = gpus_of.get(m.job_id, 0) + len(m.gpus)
    assert all(n % 8 == 0 and 8 <= n <= min(4096, 1024) for n in gpus_of.values())
    sizes = {len(j.nodes) for j in scheduler.jobs.values() if j.nodes}
    assert len(sizes) >= 4  # a distribution, not one size


def test_size_distribution_is_capped_and_falls_with_size() -> None:
    sizes, probs = size_weights(25_000)
    assert sizes[0] == 1 and sizes[-1] == MAX_JOB_NODES == 512 and abs(sum(probs) - 1) < 1e-12
    assert all(a > b for a, b in itertools.pairwise(probs))
    assert size_weights(16)[0] == [1, 2, 4, 8] and size_weights(1)[0] == [1]


def test_same_seed_same_schedule_and_another_seed_differs() -> None:
    a = [m.model_dump() for m in _run(512, 7, 300, interval_s=30.0)[1]]
    b = [m.model_dump() for m in _run(512, 7, 300, interval_s=30.0)[1]]
    c = [m.model_dump() for m in _run(512, 8, 300, interval_s=30.0)[1]]
    assert a == b and a != c


def test_queue_drains_once_users_stop_submitting() -> None:
    stop_ms = START_MS + 3_600_000
    scheduler, messages = _run(256, 3, 2 * 24 * 60, interval_s=60.0, arrivals_until_ms=stop_ms)
    assert not scheduler.queue.waiting and not scheduler.queue.running
    started = {m.job_id for m in messages if m.phase == "start"}
    assert started == {m.job_id for m in messages if m.phase == "end"}  # every job that ran ended
    late = {j.submit_ms for j in scheduler.jobs.values() if j.submit_ms > stop_ms}
    assert not late


def test_fifo_with_easy_backfill() -> None:
    queue = NodeQueue(8)
    queue.submit(QueuedJob(0, 6, 100_000, 0))
    assert [j.serial for j in queue.schedule(0)] == [0]  # 2 nodes left, busy until t=100 s
    queue.submit(QueuedJob(1, 7, 10_000, 1))  # the head: must wait for job 0 (reserved at t=100 s, 1 node spare)
    queue.submit(QueuedJob(2, 2, 200_000, 2))  # fits now, but would delay the head: no
    queue.submit(QueuedJob(3, 2, 50_000, 3))  # fits now and ends before the head's reservation: yes
    assert [j.serial for j in queue.schedule(10)] == [3]
    assert queue.running[3].nodes == (6, 7)
    queue.finish(0, 100_000)
    queue.finish(3, 50_010)
    assert [j.serial for j in queue.schedule(100_000)] == [1]  # the head starts on time
    assert [j.serial for j in queue.waiting] == [2]
    queue.finish(1, 110_000)
    assert [j.serial for j in queue.schedule(110_000)] == [2]


def test_backfill_may_use_nodes_the_head_does_not_need() -> None:
    queue = NodeQueue(8)
    queue.submit(QueuedJob(0, 5, 100_000, 0))
    queue.schedule(0)
    queue.submit(QueuedJob(1, 6, 1_000, 1))  # needs job 0's nodes; at t=100 s 8 nodes, 2 spare
    queue.submit(QueuedJob(2, 3, 500_000, 2))  # runs past the reservation and needs 3 > 2 spare: no
    queue.submit(QueuedJob(3, 2, 500_000, 3))  # runs past it but uses only the spare 2: yes
    assert [j.serial for j in queue.schedule(1)] == [3]


def test_a_lost_gpu_ends_exactly_its_job_and_requeues_it_without_the_node() -> None:
    fleet = SyntheticFleet(1024, 2, load_scenario("none"), START_MS, 1.0, 600)
    scheduler = SyntheticScheduler(fleet, 2)
    running_at_start = sum(len(j.nodes) for j in scheduler.queue.running.values())
    first = scheduler.tick(fleet.now_ms)
    fleet.tick()
    victim = max(scheduler.queue.running.values(), key=lambda j: len(j.nodes))
    assert len(victim.nodes) >= 2
    others = {s for s in scheduler.queue.running if s != victim.serial}
    node = scheduler.fleet.topology.node_name(victim.nodes[1])
    lost_ms = fleet.now_ms
    scheduler.observe(
        GpuEvent(
            ts_ms=lost_ms,
            kind="gpu_lost",
            gpu_index=3,
            cluster="colossus",
            hall="hall-1",
            row="row-000",
            rack="rack-0000",
            node=node,
        )
    )
    later: list[JobAssignment] = []
    for _ in range(200):
        later += scheduler.tick(fleet.now_ms)
        fleet.tick()
    failed = [m for m in later if m.phase == "end" and m.state != "COMPLETED"]
    assert {m.job_id for m in failed} == {scheduler.job_id(victim.serial)} and {m.state for m in failed} == {"NODE_FAIL"}
    assert {m.node for m in failed} == {fleet.topology.node_name(n) for n in victim.nodes}  # on every node of it
    assert {m.ts_ms for m in failed} == {lost_ms + 2_000}
    for serial in others:  # every other job runs on or ended at its own planned end
        job = scheduler.jobs[serial]
        assert serial in scheduler.queue.running or job.end_ms == (job.start_ms or 0) + job.duration_ms
    requeued = [m for m in later if m.phase == "start" and m.name == scheduler.meta[victim.serial].name]
    assert requeued and node not in {m.node for m in requeued}
    assert len({m.node for m in requeued}) == len(victim.nodes) - 1
    assert min(m.ts_ms for m in requeued) >= lost_ms + 2_000 + 30_000
    assert len(first) == running_at_start and all(m.ts_ms < START_MS for m in first)  # started before the run


def test_the_fleet_is_busy_exactly_where_jobs_run() -> None:
    fleet = SyntheticFleet(512, 4, load_scenario("none"), START_MS, 30.0, 3600)
    scheduler = SyntheticScheduler(fleet, 4)
    for _ in range(120):
        scheduler.tick(fleet.now_ms)
        frame, _ = fleet.tick()
        node_of = fleet.topology.node_of_gpu
        running = np.zeros(fleet.topology.n_nodes, dtype=bool)
        for job in scheduler.queue.running.values():
            running[list(job.nodes)] = True
        busy = frame.metrics["mem_used_mib"] > 1024
        assert np.array_equal(busy, running[node_of])
    assert 0.5 < running.mean() < 1.0  # mostly busy; reserved nodes idle
