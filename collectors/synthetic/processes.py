"""The compute processes of the synthetic fleet: one training rank per GPU of a job.

A job runs one process per GPU (as torchrun starts them), holding the memory the GPU
reports as used; an idle GPU runs none. PIDs are derived from the job and the GPU index,
so the same job keeps its PIDs for the whole run and two GPUs of a node never share one.
Each node's process list is built once and reused (rebuilt when the node's set of reporting
GPUs changes, and from scratch when the synthetic scheduler places jobs anew,
`SyntheticFleet.assign_jobs`): at 200,000 GPUs a publish every 5 s then costs one small
model per node, not one per process.
"""

from __future__ import annotations

import itertools

import numpy as np

from collectors.synthetic.state import GpuState
from collectors.synthetic.topology import FleetTopology
from collectors.synthetic.workload import Jobs
from gpufleet.contract.schema import GPU_PROCESSES_SCHEMA, GpuProcess, GpuProcesses

NodeEntry = tuple[tuple[int, ...], list[GpuProcess], dict[str, str]]  # reporting GPUs, processes, labels


class NodeProcesses:
    """Builds `GpuProcesses` messages for a fleet, caching each node's process list."""

    def __init__(self, topology: FleetTopology, state: GpuState, jobs: Jobs) -> None:
        self.topology, self.state, self.jobs = topology, state, jobs
        self._node_of = topology.node_of_gpu.tolist()
        self._index = topology.gpu_index.tolist()
        self._uuids = topology.labels["uuid"].to_list()
        self._pids = (4_000 + (jobs.job * 131) % 30_000 * 8 + topology.gpu_index).tolist()
        self._busy = (jobs.job >= 0).tolist()
        self._cache: dict[int, NodeEntry] = {}

    def messages(self, ts_ms: int) -> list[GpuProcesses]:
        """One message per reporting node at `ts_ms`."""
        out: list[GpuProcesses] = []
        reporting = np.flatnonzero(self.state.reporting(self.topology)).tolist()
        # a node's GPUs are contiguous in the topology: group the reporting ones by node
        for node, group in itertools.groupby(reporting, key=lambda g: self._node_of[g]):
            gpus = tuple(group)
            entry = self._cache.get(node)
            if entry is None or entry[0] != gpus:
                entry = self._cache[node] = self._entry(gpus)
            _, procs, labels = entry
            out.append(
                GpuProcesses.model_construct(
                    None,
                    schema_=GPU_PROCESSES_SCHEMA,
                    ts_ms=ts_ms,
                    gpus=[self._index[g] for g in gpus],
                    processes=procs,
                    **labels,
                )
            )
        return out

    def _entry(self, gpus: tuple[int, ...]) -> NodeEntry:
        labels = self.topology.labels_of(gpus[0])
        labels.pop("uuid")
        used_mib = (self.state.mem_total_mib[list(gpus)] * 0.9).astype(np.uint32).tolist()
        procs = [
            GpuProcess.model_construct(
                gpu_index=self._index[g], uuid=self._uuids[g], pid=self._pids[g], used_mem_mib=used,
                gpu_instance_id=None, compute_instance_id=None,
            )
            for g, used in zip(gpus, used_mib, strict=True)
            if self._busy[g]
        ]  # fmt: skip
        return gpus, procs, labels
