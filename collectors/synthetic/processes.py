"""The compute processes of the synthetic fleet: one training rank per GPU of a job.

A job runs one process per GPU (as torchrun starts them), holding the memory the GPU
reports as used; an idle GPU runs none. PIDs are derived from the job and the GPU index,
so the same job keeps its PIDs for the whole run and two GPUs of a node never share one.
"""

from __future__ import annotations

import itertools

import numpy as np

from collectors.synthetic.state import GpuState
from collectors.synthetic.topology import FleetTopology
from collectors.synthetic.workload import Jobs
from gpufleet.contract.schema import GPU_PROCESSES_SCHEMA, GpuProcess, GpuProcesses


def node_processes(topology: FleetTopology, state: GpuState, jobs: Jobs, ts_ms: int) -> list[GpuProcesses]:
    """One `GpuProcesses` per reporting node at `ts_ms`."""
    reporting = state.reporting(topology)
    used_mib = (state.mem_total_mib * 0.9).astype(np.uint32).tolist()
    pids = (4_000 + (jobs.job * 131) % 30_000 * 8 + topology.gpu_index).tolist()
    busy = (jobs.job >= 0).tolist()
    index = topology.gpu_index.tolist()
    node_of = topology.node_of_gpu.tolist()
    uuids = topology.labels["uuid"].to_list()
    out: list[GpuProcesses] = []
    # a node's GPUs are contiguous in the topology: group the reporting ones by node
    for _, group in itertools.groupby(np.flatnonzero(reporting).tolist(), key=lambda g: node_of[g]):
        gpus = list(group)
        labels = topology.labels_of(gpus[0])
        labels.pop("uuid")
        procs = [
            GpuProcess.model_construct(
                gpu_index=index[g], uuid=uuids[g], pid=pids[g], used_mem_mib=used_mib[g],
                gpu_instance_id=None, compute_instance_id=None,
            )
            for g in gpus
            if busy[g]
        ]  # fmt: skip
        out.append(
            GpuProcesses.model_construct(
                None, schema_=GPU_PROCESSES_SCHEMA, ts_ms=ts_ms, gpus=[index[g] for g in gpus], processes=procs, **labels
            )
        )
    return out
