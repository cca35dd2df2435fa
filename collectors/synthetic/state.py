"""The fleet's per-GPU state: what each simulated GPU is, and what a run has done to it.

`GpuState` holds one numpy array per quantity, indexed by topology-local GPU id. It owns
the figures fixed at construction (from the GPU model: memory, clocks, power limit,
thermal limits; from the seed: idle draw, temperature offset, starting energy) and
everything that changes as the fleet runs: temperatures, the counters that only go up,
row remapping, and the switches faults flip (lost GPUs, silent nodes, stragglers, power
brakes, racks whose cooling failed). `physics` advances it every tick; `faults` flips
the switches and applies what an XID does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collectors.synthetic.topology import MODELS, FleetTopology

COOLANT_SUPPLY_C = 27.0
# monotone counters, in the order they appear in a frame
COUNTERS = (
    "ecc_corrected_count",
    "ecc_uncorrected_count",
    "pcie_replay_count",
    "nvlink_tx_kib",
    "nvlink_rx_kib",
    "nvlink_crc_errors",
    "nvlink_replay_errors",
    "nvlink_recovery_errors",
)

F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class GpuState:
    """Per-GPU arrays; `create` draws the seeded ones from the fleet's random stream."""

    # fixed by the GPU model
    mem_total_mib: npt.NDArray[np.uint32]
    mem_clock_mhz: npt.NDArray[np.uint16]
    max_sm_clock_mhz: F64
    power_limit_mw: npt.NDArray[np.uint32]
    temp_gpu_max_c: F64
    temp_slowdown_c: F64
    # fixed by the seed
    idle_w: F64
    temp_offset_c: F64
    # advanced by every tick (`physics`)
    energy_mj: U64
    gpu_temp_c: F64
    mem_temp_c: F64
    counters: dict[str, U64]
    coolant_supply_c: F64  # what each GPU's rack CDU delivers, for the facility model
    gpu_power_w: F64  # the last tick's draw, for the facility model
    # changed by faults and XIDs (`faults`)
    remap_corr: npt.NDArray[np.uint16]
    remap_unc: npt.NDArray[np.uint16]
    remap_pending: Mask
    remap_failure: Mask
    alive: Mask
    node_up: Mask  # per node, indexed from the topology's first node
    straggler: Mask
    brake: Mask
    stalled: Mask  # a hung kernel or collective: busy, doing nothing
    recovery_action: npt.NDArray[np.uint8]  # NVML's recovery action code (0 NONE)
    rack_cooling: dict[int, float]  # rack -> fleet second its cooling failed

    @classmethod
    def create(cls, topology: FleetTopology, rng: np.random.Generator) -> GpuState:
        n, model = topology.n_gpus, topology.model_of_gpu
        # the draws' order is part of the seed's meaning: same seed, same fleet
        idle_w = rng.uniform(70.0, 90.0, n)
        temp_offset_c = rng.normal(0.0, 1.2, n)
        energy_mj = rng.integers(10**9, 10**11, n, dtype=np.uint64)
        gpu_temp_c = COOLANT_SUPPLY_C + 0.021 * idle_w + temp_offset_c
        zeros = np.zeros(n, dtype=np.uint64)
        return cls(
            mem_total_mib=np.array([m.mem_total_mib for m in MODELS])[model].astype(np.uint32),
            mem_clock_mhz=np.array([m.mem_clock_mhz for m in MODELS])[model].astype(np.uint16),
            max_sm_clock_mhz=np.array([m.max_sm_clock_mhz for m in MODELS])[model].astype(np.float64),
            power_limit_mw=np.array([m.power_limit_mw for m in MODELS])[model].astype(np.uint32),
            temp_gpu_max_c=np.array([m.temp_gpu_max_c for m in MODELS])[model].astype(np.float64),
            temp_slowdown_c=np.array([m.temp_slowdown_c for m in MODELS])[model].astype(np.float64),
            idle_w=idle_w,
            temp_offset_c=temp_offset_c,
            energy_mj=energy_mj,
            gpu_temp_c=gpu_temp_c,
            mem_temp_c=gpu_temp_c + 3.0,
            counters={name: zeros.copy() for name in COUNTERS},
            coolant_supply_c=np.full(n, COOLANT_SUPPLY_C),
            gpu_power_w=idle_w.copy(),
            remap_corr=np.zeros(n, dtype=np.uint16),
            remap_unc=np.zeros(n, dtype=np.uint16),
            remap_pending=np.zeros(n, dtype=np.bool_),
            remap_failure=np.zeros(n, dtype=np.bool_),
            alive=np.ones(n, dtype=np.bool_),
            node_up=np.ones(topology.n_nodes, dtype=np.bool_),
            straggler=np.zeros(n, dtype=np.bool_),
            brake=np.zeros(n, dtype=np.bool_),
            stalled=np.zeros(n, dtype=np.bool_),
            recovery_action=np.zeros(n, dtype=np.uint8),
            rack_cooling={},
        )

    def reporting(self, topology: FleetTopology) -> Mask:
        """GPUs whose rows arrive: alive, on a node whose collector still reports."""
        if not topology.n_gpus:
            return self.alive
        node_up: Mask = self.node_up[topology.node_of_gpu - topology.node_of_gpu[0]]
        return self.alive & node_up
