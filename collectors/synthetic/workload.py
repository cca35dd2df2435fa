"""Training jobs: which GPUs work together, and what each one is doing at a fleet second.

Contiguous runs of nodes form jobs (8 to 1024 nodes, log-uniform); a share of nodes stays
idle (job -1). Every GPU of a job runs the same compute/communication cycle (4-10 s) and
checkpoints with the others every 2-10 minutes, so fleet power dips and recovers in step.
A straggler runs its cycle out of phase with the rest of its job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collectors.synthetic.topology import FleetTopology

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Jobs:
    """Per-GPU copies of the job parameters (idle GPUs have job -1)."""

    job: npt.NDArray[np.int64]
    period_s: F64
    compute_share: F64
    phase_s: F64
    ckpt_every_s: F64
    ckpt_offset_s: F64
    ckpt_len_s: F64


@dataclass(frozen=True, slots=True)
class Activity:
    """What every GPU does in one tick."""

    active: Mask  # part of a job
    computing: Mask  # in the compute part of its cycle (else communicating)
    checkpointing: Mask
    busy: F64  # share of the GPU in use, 0..1, with a little noise


def place_jobs(topology: FleetTopology, idle_node_share: float, rng: np.random.Generator) -> Jobs:
    """Contiguous runs of nodes form jobs; a share of nodes stays idle."""
    n_nodes = topology.n_nodes
    idle = rng.random(n_nodes) < idle_node_share
    node_job = np.full(n_nodes, -1, dtype=np.int64)
    job, node = 0, 0
    while node < n_nodes:
        size = int(np.exp(rng.uniform(np.log(8), np.log(1024))))
        run = np.arange(node, min(node + size, n_nodes))
        node_job[run[~idle[run]]] = job
        job, node = job + 1, node + size
    per_job = {
        "period_s": rng.uniform(4.0, 10.0, job),
        "compute_share": rng.uniform(0.65, 0.85, job),
        "phase_s": rng.uniform(0.0, 10.0, job),
        "ckpt_every_s": rng.uniform(120.0, 600.0, job),
        "ckpt_offset_s": rng.uniform(0.0, 600.0, job),
        "ckpt_len_s": rng.uniform(15.0, 40.0, job),
    }
    gpu_job = node_job[topology.node_of_gpu]
    safe = np.maximum(gpu_job, 0)
    return Jobs(job=gpu_job, **{k: v[safe] if job else np.ones_like(gpu_job, float) for k, v in per_job.items()})


def activity(jobs: Jobs, t_s: float, straggler: Mask, rng: np.random.Generator) -> Activity:
    """Where each GPU is in its job's cycle at fleet second `t_s`."""
    active = jobs.job >= 0
    shift = np.where(straggler, 0.35 * jobs.period_s, 0.0)
    phase = ((t_s + jobs.phase_s + shift) / jobs.period_s) % 1.0
    computing = phase < jobs.compute_share
    checkpointing = ((t_s + jobs.ckpt_offset_s) % jobs.ckpt_every_s) < jobs.ckpt_len_s
    busy = np.where(computing, 0.95, 0.30)
    busy = np.where(checkpointing, 0.10, busy)
    busy = np.where(active, np.clip(busy + rng.normal(0.0, 0.015, len(jobs.job)), 0.0, 1.0), 0.0)
    return Activity(active, computing, checkpointing, busy)
