"""Where each synthetic GPU sits, laid out like xAI's Colossus.

8 GPUs per node, 8 nodes per rack, 8 racks per row (an "array" of 512 GPUs), 48 rows per
hall (~25k GPUs). Every fourth row holds H200s, the rest H100s (Colossus: 150k H100 +
50k H200). Everything is a per-GPU numpy array so the fleet model stays vectorized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.contract.frame import Categorical

GPUS_PER_NODE = 8
NODES_PER_RACK = 8
RACKS_PER_ROW = 8
ROWS_PER_HALL = 48
H200_EVERY_NTH_ROW = 4


@dataclass(frozen=True, slots=True)
class GpuModel:
    """Hardware constants of one GPU model (shared/reference/nvml-and-dcgm.md §3)."""

    name: str
    mem_total_mib: int
    mem_clock_mhz: int
    max_sm_clock_mhz: int
    power_limit_mw: int
    power_limit_min_mw: int
    temp_shutdown_c: int
    temp_slowdown_c: int
    temp_gpu_max_c: int
    temp_mem_max_c: int


H100 = GpuModel("NVIDIA H100 80GB HBM3", 81559, 2619, 1980, 700_000, 200_000, 92, 89, 87, 95)
# H200 shutdown threshold as read off a real H200 (docs/hardware/nvidia-h200.md)
H200 = GpuModel("NVIDIA H200", 143771, 3201, 1980, 700_000, 200_000, 95, 89, 87, 95)
MODELS: tuple[GpuModel, ...] = (H100, H200)


@dataclass(frozen=True, slots=True)
class FleetTopology:
    """Per-GPU placement. Global GPU id i is node i // 8, index i % 8."""

    cluster: str
    n_gpus: int
    gpu_index: npt.NDArray[np.uint8]
    node_of_gpu: npt.NDArray[np.int64]
    rack_of_gpu: npt.NDArray[np.int64]
    row_of_gpu: npt.NDArray[np.int64]
    hall_of_gpu: npt.NDArray[np.int64]
    model_of_gpu: npt.NDArray[np.int64]  # index into MODELS
    labels: dict[str, Categorical]  # per GPU: cluster, hall, row, rack, node, uuid

    @property
    def n_nodes(self) -> int:
        return int(self.node_of_gpu[-1]) + 1 if self.n_gpus else 0

    @property
    def n_racks(self) -> int:
        return int(self.rack_of_gpu[-1]) + 1 if self.n_gpus else 0

    def node_name(self, node: int) -> str:
        return node_name(node)

    def rack_name(self, rack: int) -> str:
        return rack_name(rack)

    def gpus_of_node(self, node: int) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.node_of_gpu == node)

    def gpus_of_rack(self, rack: int) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.rack_of_gpu == rack)

    def labels_of(self, gpu: int) -> dict[str, str]:
        """The label values of topology-local GPU `gpu` (cluster, hall, row, rack, node, uuid)."""
        return {k: v.values[v.codes[gpu]] for k, v in self.labels.items()}


def node_name(node: int) -> str:
    return f"node-{node:05d}"


def rack_name(rack: int) -> str:
    return f"rack-{rack:04d}"


def build_topology(n_gpus: int, seed: int, cluster: str = "colossus", first_node: int = 0) -> FleetTopology:
    """Lay out `n_gpus` GPUs starting at node `first_node` (a collector covers one node)."""
    gid = np.arange(n_gpus, dtype=np.int64) + first_node * GPUS_PER_NODE
    node = gid // GPUS_PER_NODE
    rack = node // NODES_PER_RACK
    row = rack // RACKS_PER_ROW
    hall = row // ROWS_PER_HALL
    model = (row % H200_EVERY_NTH_ROW == H200_EVERY_NTH_ROW - 1).astype(np.int64)
    rng = np.random.default_rng([seed, 0x7575])
    uuid_bytes = rng.integers(0, 256, size=(int(gid[-1]) + 1 if n_gpus else 0, 16), dtype=np.uint8)[gid]
    uuids = [_uuid_text(b) for b in uuid_bytes]
    labels = {
        "cluster": Categorical(np.zeros(n_gpus, np.uint32), [cluster]),
        "hall": _categorical(hall, lambda h: f"hall-{h + 1}"),
        "row": _categorical(row, lambda r: f"row-{r:03d}"),
        "rack": _categorical(rack, rack_name),
        "node": _categorical(node, node_name),
        "uuid": Categorical(np.arange(n_gpus, dtype=np.uint32), uuids),
    }
    return FleetTopology(
        cluster=cluster,
        n_gpus=n_gpus,
        gpu_index=(gid % GPUS_PER_NODE).astype(np.uint8),
        node_of_gpu=node,
        rack_of_gpu=rack,
        row_of_gpu=row,
        hall_of_gpu=hall,
        model_of_gpu=model,
        labels=labels,
    )


def _categorical(ids: npt.NDArray[np.int64], name: object) -> Categorical:
    unique, codes = np.unique(ids, return_inverse=True)
    namer = name if callable(name) else str
    return Categorical(codes.astype(np.uint32), [namer(int(u)) for u in unique])


def _uuid_text(b: npt.NDArray[np.uint8]) -> str:
    h = b.tobytes().hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
