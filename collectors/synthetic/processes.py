"""The compute processes of the synthetic fleet: one training rank per GPU of a job.

A job runs one process per GPU (as torchrun starts them), holding the memory the GPU
reports as used; an idle GPU runs none. PIDs are derived from the job and the GPU index,
so the same job keeps its PIDs for the whole run and two GPUs of a node never share one.
Each node's process list is built once and reused (rebuilt when the node's set of reporting
GPUs changes, or when the synthetic scheduler places jobs anew and its processes change,
`SyntheticFleet.assign_jobs`): at 200,000 GPUs a publish every 5 s then costs one small
model per node, not one per process (a copy of the cached one with the time, `Stamp`).
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from collectors.synthetic.stamp import Stamp
from collectors.synthetic.state import GpuState
from collectors.synthetic.topology import FleetTopology
from collectors.synthetic.workload import Jobs
from gpufleet.contract.schema import GPU_PROCESSES_SCHEMA, GpuProcess, GpuProcesses

NodeEntry = tuple[tuple[int, ...], Stamp[GpuProcesses]]  # reporting GPUs, the node's message to stamp with a time


class NodeProcesses:
    """Builds `GpuProcesses` messages for a fleet, caching each node's process list."""

    def __init__(self, topology: FleetTopology, state: GpuState, jobs: Jobs) -> None:
        self.topology, self.state = topology, state
        self._node_of = topology.node_of_gpu.tolist()
        self._index = topology.gpu_index.tolist()
        self._uuids = topology.labels["uuid"].to_list()
        self._cache: dict[int, NodeEntry] = {}
        self._pid_of: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._busy_of: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self.assign(jobs)

    def assign(self, jobs: Jobs) -> None:
        """A new placement: forget only the nodes where a GPU's process changed.

        The scheduler places jobs anew whenever one starts or ends (every few ticks at
        20,000 GPUs); rebuilding every node's list then was most of the cost here.
        """
        pid = 4_000 + (jobs.job * 131) % 30_000 * 8 + self.topology.gpu_index
        busy = jobs.job >= 0
        if self._cache:
            changed = (busy != self._busy_of) | (busy & (pid != self._pid_of))
            for node in np.unique(self.topology.node_of_gpu[changed]).tolist():
                self._cache.pop(node, None)
        self.jobs, self._pid_of, self._busy_of = jobs, pid, busy
        self._pids, self._busy = pid.tolist(), busy.tolist()

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
            out.append(entry[1](ts_ms=ts_ms))
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
        message = GpuProcesses.model_construct(
            None, schema_=GPU_PROCESSES_SCHEMA, ts_ms=0, gpus=[self._index[g] for g in gpus], processes=procs, **labels
        )
        return gpus, Stamp(message)
