"""A synthetic GPU fleet, vectorized over every GPU, deterministic for a seed.

What it models (numbers from shared/reference/fleet-numbers.md), one module per concern:
- `workload`: training jobs spanning contiguous nodes; every GPU of a job runs the same
  compute/communication cycle (4-10 s) and checkpoints together, so fleet power dips and
  recovers in step; some nodes idle at 70-90 W;
- `physics`: clocks, power and liquid cooling (GPU 41-50 °C under load, HBM hotter than the
  core, a diurnal drift of the coolant supply, thermal inertia), and the counters that only
  go up: energy, ECC, PCIe replays, NVLink traffic and errors;
- `faults`: faults from a `Scenario`, each recorded in `truth` so tests know what to look for;
- `state`: the per-GPU arrays the other three read and advance.

This module owns the fleet's clock and identity: `SyntheticFleet.tick()` returns the rows
of every GPU that reports at that instant as a `GpuFrame`, plus the events that happened
in it, and `inventory()` what each GPU says it is.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from collectors.synthetic import activity, physics, processes, workload
from collectors.synthetic.faults import FaultInjector, InjectedFault
from collectors.synthetic.scenario import Scenario
from collectors.synthetic.state import F64, GpuState
from collectors.synthetic.topology import MODELS, FleetTopology, build_topology
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent, GpuInventory, GpuProcesses

__all__ = ["CUDA_VERSION", "DRIVER_VERSION", "InjectedFault", "SyntheticFleet"]

DRIVER_VERSION = "565.57.01"
CUDA_VERSION = "12.7"


class SyntheticFleet:
    """A fleet of `n_gpus` GPUs sampled every `interval_s` from `start_ms`.

    Args:
        n_gpus: GPUs to simulate (8 per node).
        seed: everything random derives from it; the same seed gives the same fleet.
        scenario: faults and random XID rate.
        start_ms: fleet time of tick 0, epoch ms.
        interval_s: fleet seconds between ticks.
        run_s: planned length of the run, to place faults given as shares ("25%").
        first_node: global id of the first node (a per-node collector covers one node).
    """

    def __init__(
        self,
        n_gpus: int,
        seed: int,
        scenario: Scenario,
        start_ms: int,
        interval_s: float = 1.0,
        run_s: float = 3600.0,
        cluster: str = "colossus",
        first_node: int = 0,
    ) -> None:
        self.topology: FleetTopology = build_topology(n_gpus, seed, cluster, first_node)
        self.seed = seed
        self.scenario = scenario
        self.start_ms = start_ms
        self.interval_s = interval_s
        self.run_s = run_s
        self.ticks_done = 0
        # one stream for state, jobs, per-tick noise and random XIDs, drawn in this order
        self._rng = np.random.default_rng([seed, 0x5EED])
        self._state = GpuState.create(self.topology, self._rng)
        self._jobs = workload.place_jobs(self.topology, scenario.idle_node_share, self._rng)
        self._faults = FaultInjector(self.topology, self._state, scenario, self._jobs.job >= 0, seed, run_s, start_ms, self._rng)
        self.truth: list[InjectedFault] = self._faults.truth
        self._activity_rng = np.random.default_rng([seed, 0xAC7])  # GPM noise, apart from the rest
        self._processes = processes.NodeProcesses(self.topology, self._state, self._jobs)

    @property
    def job_of_gpu(self) -> npt.NDArray[np.int64]:
        """Per GPU, the training job it belongs to (-1: idle); the synthetic scheduler's input."""
        return self._jobs.job

    @property
    def failing_racks(self) -> frozenset[int]:
        """Racks whose cooling has failed (their CDU lost flow)."""
        return frozenset(self._state.rack_cooling)

    @property
    def coolant_supply_c(self) -> F64:
        """Per GPU, what its rack's CDU delivers (°C), for the facility model."""
        return self._state.coolant_supply_c

    @property
    def gpu_power_w(self) -> F64:
        """Per GPU, the last tick's draw (W), for the facility model."""
        return self._state.gpu_power_w

    @property
    def now_ms(self) -> int:
        return self.start_ms + round(self.ticks_done * self.interval_s * 1000)

    def tick(self) -> tuple[GpuFrame, list[GpuEvent]]:
        """Advance one interval; return the reporting GPUs' rows and the tick's events."""
        t_s = self.ticks_done * self.interval_s
        ts_ms = self.now_ms
        events = self._faults.fire(t_s, ts_ms) + self._faults.random_xids(ts_ms, self.interval_s)
        frame = self._sample(t_s, ts_ms)
        self.ticks_done += 1
        return frame, events

    def _sample(self, t_s: float, ts_ms: int) -> GpuFrame:
        topo, state = self.topology, self._state
        work = workload.activity(self._jobs, t_s, state.straggler, self._rng)
        metrics = physics.sample(state, work, topo, self._rng, t_s, ts_ms, self.interval_s, self.run_s)
        pcie = (metrics["pcie_tx_kbps"].astype(np.float64), metrics["pcie_rx_kbps"].astype(np.float64))
        metrics |= activity.sample(self._jobs, work, state.stalled, pcie, physics.nvlink_kib_s(work), self._activity_rng)
        rows = np.flatnonzero(state.reporting(topo))
        return GpuFrame(
            ts_ms=np.full(len(rows), ts_ms, dtype=np.int64),
            seq=np.full(len(rows), self.ticks_done, dtype=np.uint64),
            gpu_index=topo.gpu_index[rows],
            labels={k: v.take(rows) for k, v in topo.labels.items()},
            metrics={k: v[rows] for k, v in metrics.items()},
        )

    def start_fault(self, kind: str, gpus: tuple[int, ...]) -> None:
        """Start a switch fault (stall, straggler, power_brake, ...) on topology-local `gpus` now."""
        self._faults.start(kind, gpus, self.ticks_done * self.interval_s, self.now_ms)

    def assign_jobs(self, jobs: workload.Jobs) -> None:
        """Replace which GPUs work together, from the next tick on (the synthetic scheduler's placement).

        Before the first tick the scenario's faults are placed again, on the new busy nodes.
        """
        self._jobs = jobs
        self._processes.assign(jobs)
        if self.ticks_done == 0:
            self._faults.place(jobs.job >= 0)

    def processes(self) -> list[GpuProcesses]:
        """The compute processes of every reporting node, as of the last tick."""
        last_ms = self.start_ms + round(max(self.ticks_done - 1, 0) * self.interval_s * 1000)
        return self._processes.messages(last_ms)

    def inventory(self, ts_ms: int | None = None) -> list[GpuInventory]:
        topo = self.topology
        rng = np.random.default_rng([self.seed, 0x1F0])
        serials = rng.integers(10**12, 10**13, topo.n_gpus).tolist()
        out = []
        for gpu in range(topo.n_gpus):
            model = MODELS[int(topo.model_of_gpu[gpu])]
            index = int(topo.gpu_index[gpu])
            out.append(
                GpuInventory(
                    ts_ms=self.start_ms if ts_ms is None else ts_ms,
                    gpu_index=index,
                    serial=str(serials[gpu]),
                    model=model.name,
                    pci_bus_id=f"00000000:{0x18 + 0x10 * index:02X}:00.0",
                    driver_version=DRIVER_VERSION,
                    cuda_version=CUDA_VERSION,
                    vbios_version="96.00.89.00.01",
                    mem_total_mib=model.mem_total_mib,
                    power_limit_default_mw=model.power_limit_mw,
                    power_limit_min_mw=model.power_limit_min_mw,
                    power_limit_max_mw=model.power_limit_mw,
                    temp_shutdown_c=model.temp_shutdown_c,
                    temp_slowdown_c=model.temp_slowdown_c,
                    temp_gpu_max_c=model.temp_gpu_max_c,
                    temp_mem_max_c=model.temp_mem_max_c,
                    mig_mode=False,
                    **topo.labels_of(gpu),
                )
            )
        return out
