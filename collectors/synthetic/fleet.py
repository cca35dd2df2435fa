"""A synthetic GPU fleet, vectorized over every GPU, deterministic for a seed.

What it models (numbers from shared/reference/fleet-numbers.md):
- training jobs spanning contiguous nodes; every GPU of a job runs the same
  compute/communication cycle (4-10 s) and checkpoints together, so fleet power dips and
  recovers in step; some nodes idle at 70-90 W;
- liquid cooling: GPU 41-50 °C under load, HBM hotter than the core, a diurnal drift of
  the coolant supply, thermal inertia;
- counters that only go up: energy, ECC, PCIe replays, NVLink traffic and errors;
- faults from a `Scenario`, each recorded in `truth` so tests know what to look for.

One `tick()` returns the rows of every GPU that reports at that instant as a `GpuFrame`,
plus the events that happened in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collectors.synthetic.scenario import TARGET_OF, FaultSpec, Scenario
from collectors.synthetic.topology import GPUS_PER_NODE, MODELS, FleetTopology, build_topology
from collectors.synthetic.xid_mix import xid_weights
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent, GpuInventory
from gpufleet.contract.xids import lookup

# clocks-event reason bits (nvmlClocksEventReason*)
GPU_IDLE = 0x1
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80

IDLE_SM_CLOCK_MHZ = 345
COOLANT_SUPPLY_C = 27.0
THERMAL_TAU_S = 8.0
COOLING_FAILURE_RISE_C = 50.0
DRIVER_VERSION = "565.57.01"
CUDA_VERSION = "12.7"


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """Ground truth: what the scenario did, to which GPUs (topology-local ids), and when."""

    kind: str
    start_ms: int
    end_ms: int | None
    gpus: tuple[int, ...]
    xid: int | None = None


@dataclass(slots=True)
class _Jobs:
    """Per-GPU copies of the job parameters (idle GPUs have job -1)."""

    job: npt.NDArray[np.int64]
    period_s: npt.NDArray[np.float64]
    compute_share: npt.NDArray[np.float64]
    phase_s: npt.NDArray[np.float64]
    ckpt_every_s: npt.NDArray[np.float64]
    ckpt_offset_s: npt.NDArray[np.float64]
    ckpt_len_s: npt.NDArray[np.float64]


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
        self.truth: list[InjectedFault] = []
        self._rng = np.random.default_rng([seed, 0x5EED])
        self._init_state()
        self._jobs = self._place_jobs()
        self._pending = sorted(self._resolve_faults(), key=lambda f: f[0])
        self._xid_codes, self._xid_probs = xid_weights()

    # ---- construction -------------------------------------------------------------
    def _init_state(self) -> None:
        n, rng, topo = self.topology.n_gpus, self._rng, self.topology
        model = topo.model_of_gpu
        self._mem_total = np.array([m.mem_total_mib for m in MODELS])[model].astype(np.uint32)
        self._mem_clock = np.array([m.mem_clock_mhz for m in MODELS])[model].astype(np.uint16)
        self._max_clock = np.array([m.max_sm_clock_mhz for m in MODELS])[model].astype(np.float64)
        self._limit_mw = np.array([m.power_limit_mw for m in MODELS])[model].astype(np.uint32)
        self._gpu_max_c = np.array([m.temp_gpu_max_c for m in MODELS])[model].astype(np.float64)
        self._slowdown_c = np.array([m.temp_slowdown_c for m in MODELS])[model].astype(np.float64)
        self._idle_w = rng.uniform(70.0, 90.0, n)
        self._temp_offset_c = rng.normal(0.0, 1.2, n)
        self._energy_mj = rng.integers(10**9, 10**11, n, dtype=np.uint64)
        self._gpu_temp = COOLANT_SUPPLY_C + 0.021 * self._idle_w + self._temp_offset_c
        self._mem_temp = self._gpu_temp + 3.0
        zeros = np.zeros(n, dtype=np.uint64)
        self._counters = {
            name: zeros.copy()
            for name in (
                "ecc_corrected_count",
                "ecc_uncorrected_count",
                "pcie_replay_count",
                "nvlink_tx_kib",
                "nvlink_rx_kib",
                "nvlink_crc_errors",
                "nvlink_replay_errors",
                "nvlink_recovery_errors",
            )
        }
        self._remap_corr = np.zeros(n, dtype=np.uint16)
        self._remap_unc = np.zeros(n, dtype=np.uint16)
        self._remap_pending = np.zeros(n, dtype=np.bool_)
        self._remap_failure = np.zeros(n, dtype=np.bool_)
        self._alive = np.ones(n, dtype=np.bool_)
        self._node_up = np.ones(self.topology.n_nodes, dtype=np.bool_)
        self._straggler = np.zeros(n, dtype=np.bool_)
        self._brake = np.zeros(n, dtype=np.bool_)
        self._rack_cooling: dict[int, float] = {}  # rack -> fleet second the failure started
        self.coolant_supply_c = np.full(n, COOLANT_SUPPLY_C)
        self.gpu_power_w = self._idle_w.copy()
        self._active_windows: list[tuple[float, float, str, tuple[int, ...]]] = []

    def _place_jobs(self) -> _Jobs:
        """Contiguous runs of nodes form jobs; a share of nodes stays idle."""
        rng, n_nodes = self._rng, self.topology.n_nodes
        idle = rng.random(n_nodes) < self.scenario.idle_node_share
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
        gpu_job = node_job[self.topology.node_of_gpu]
        safe = np.maximum(gpu_job, 0)
        return _Jobs(job=gpu_job, **{k: v[safe] if job else np.ones_like(gpu_job, float) for k, v in per_job.items()})

    def _resolve_faults(self) -> list[tuple[float, FaultSpec, tuple[int, ...]]]:
        """Pick each fault's GPUs: distinct busy nodes, the cooling rack apart from the rest."""
        topo, rng = self.topology, np.random.default_rng([self.seed, 0xFA17])
        busy_nodes = np.unique(topo.node_of_gpu[self._jobs.job >= 0]).tolist()
        taken: set[int] = set()
        resolved = []
        # racks first, so that the single-node faults land outside the failing rack
        for spec in sorted(self.scenario.faults, key=lambda f: TARGET_OF[f.kind] != "rack"):
            gpus = self._fault_gpus(spec, busy_nodes, taken, rng)
            resolved.append((spec.at_s(self.run_s), spec, gpus))
        return resolved

    def _fault_gpus(self, spec: FaultSpec, busy: list[int], taken: set[int], rng: np.random.Generator) -> tuple[int, ...]:
        """Topology-local GPU ids hit by `spec`; explicit targets are global ids."""
        topo = self.topology
        scope = TARGET_OF[spec.kind]
        if spec.target != "random":
            if scope == "gpu":
                return (spec.target - int(topo.node_of_gpu[0]) * GPUS_PER_NODE,)
            of = topo.rack_of_gpu if scope == "rack" else topo.node_of_gpu
            return tuple(np.flatnonzero(of == spec.target).tolist())
        free = [n for n in busy if n not in taken] or busy
        node = int(rng.choice(free))
        if scope == "rack":
            gpus = topo.gpus_of_rack(int(topo.rack_of_gpu[topo.gpus_of_node(node)[0]]))
            taken.update(int(n) for n in np.unique(topo.node_of_gpu[gpus]))
            return tuple(gpus.tolist())
        taken.add(node)
        gpus = topo.gpus_of_node(node)
        return tuple(gpus.tolist()) if scope == "node" else (int(rng.choice(gpus)),)

    # ---- one tick ------------------------------------------------------------------
    @property
    def failing_racks(self) -> frozenset[int]:
        """Racks whose cooling has failed (their CDU lost flow)."""
        return frozenset(self._rack_cooling)

    @property
    def now_ms(self) -> int:
        return self.start_ms + round(self.ticks_done * self.interval_s * 1000)

    def tick(self) -> tuple[GpuFrame, list[GpuEvent]]:
        """Advance one interval; return the reporting GPUs' rows and the tick's events."""
        t_s = self.ticks_done * self.interval_s
        ts_ms = self.now_ms
        events = self._fire_faults(t_s, ts_ms) + self._random_xids(ts_ms)
        frame = self._sample(t_s, ts_ms)
        self.ticks_done += 1
        return frame, events

    def _sample(self, t_s: float, ts_ms: int) -> GpuFrame:
        topo, jobs, rng, n = self.topology, self._jobs, self._rng, self.topology.n_gpus
        dt = self.interval_s
        active = jobs.job >= 0
        shift = np.where(self._straggler, 0.35 * jobs.period_s, 0.0)
        phase = ((t_s + jobs.phase_s + shift) / jobs.period_s) % 1.0
        computing = phase < jobs.compute_share
        checkpointing = ((t_s + jobs.ckpt_offset_s) % jobs.ckpt_every_s) < jobs.ckpt_len_s
        busy = np.where(computing, 0.95, 0.30)
        busy = np.where(checkpointing, 0.10, busy)
        busy = np.where(active, np.clip(busy + rng.normal(0.0, 0.015, n), 0.0, 1.0), 0.0)

        sw_thermal = self._gpu_temp >= self._gpu_max_c
        hw_thermal = self._gpu_temp >= self._slowdown_c
        clock = np.ones(n)
        clock = np.where(self._straggler, 0.78, clock)
        clock = np.where(sw_thermal, np.minimum(clock, 0.85), clock)
        clock = np.where(hw_thermal, np.minimum(clock, 0.55), clock)
        clock = np.where(self._brake, np.minimum(clock, 0.40), clock)

        limit_w = self._limit_mw / 1000.0
        base_w = self._idle_w + np.where(active, 40.0, 0.0)  # allocated memory costs ~40 W
        power_w = base_w + (640.0 - base_w) * busy * clock + rng.normal(0.0, 5.0, n)
        power_w = np.where(self._brake, np.minimum(power_w, 200.0), power_w)
        capped = power_w > limit_w
        power_w = np.clip(power_w, 20.0, limit_w)
        instant_w = np.clip(power_w + rng.normal(0.0, 25.0, n), 20.0, limit_w * 1.1)

        self._advance_temperatures(t_s, ts_ms, power_w)
        sm_clock = np.where(active, np.round(self._max_clock * clock / 15.0) * 15.0, IDLE_SM_CLOCK_MHZ)
        util = np.where(active, np.clip(np.round(busy * clock / 0.95 * 100.0), 0, 100), 0)
        reasons = (
            np.where(~active, GPU_IDLE, 0)
            | np.where(capped, SW_POWER_CAP, 0)
            | np.where(sw_thermal, SW_THERMAL, 0)
            | np.where(hw_thermal, HW_THERMAL | HW_SLOWDOWN, 0)
            | np.where(self._brake, HW_POWER_BRAKE | HW_SLOWDOWN, 0)
        )
        self._advance_counters(dt, power_w, active, computing, checkpointing)

        report = self._alive & self._node_up[topo.node_of_gpu - topo.node_of_gpu[0]] if n else self._alive
        rows = np.flatnonzero(report)
        metrics: dict[str, np.ndarray] = {
            "power_mw": np.round(power_w * 1000.0).astype(np.uint32),
            "power_instant_mw": np.round(instant_w * 1000.0).astype(np.uint32),
            "energy_mj": self._energy_mj.copy(),
            "power_limit_mw": self._limit_mw,
            "gpu_temp_c": np.round(self._gpu_temp).astype(np.int16),
            "mem_temp_c": np.round(self._mem_temp).astype(np.int16),
            "util_gpu_pct": util.astype(np.uint8),
            "util_mem_pct": np.round(util * 0.45).astype(np.uint8),
            "mem_used_mib": np.where(active, self._mem_total * 0.9, 512).astype(np.uint32),
            "mem_total_mib": self._mem_total,
            "sm_clock_mhz": sm_clock.astype(np.uint16),
            "mem_clock_mhz": self._mem_clock,
            "clocks_event_reasons": reasons.astype(np.uint64),
            "pstate": np.zeros(n, np.uint8),
            "remapped_rows_correctable": self._remap_corr.copy(),
            "remapped_rows_uncorrectable": self._remap_unc.copy(),
            "remap_pending": self._remap_pending.copy(),
            "remap_failure": self._remap_failure.copy(),
            "pcie_tx_kbps": np.where(active, np.where(computing, 3.0e5, 1.2e6), 2.0e3).astype(np.uint32),
            "pcie_rx_kbps": np.where(active, np.where(computing, 4.0e5, 1.1e6), 1.5e3).astype(np.uint32),
            **{k: v.copy() for k, v in self._counters.items()},
        }
        return GpuFrame(
            ts_ms=np.full(len(rows), ts_ms, dtype=np.int64),
            seq=np.full(len(rows), self.ticks_done, dtype=np.uint64),
            gpu_index=topo.gpu_index[rows],
            labels={k: v.take(rows) for k, v in topo.labels.items()},
            metrics={k: v[rows] for k, v in metrics.items()},
        )

    def _advance_temperatures(self, t_s: float, ts_ms: int, power_w: np.ndarray) -> None:
        hour = (ts_ms / 3_600_000.0) % 24.0
        supply = COOLANT_SUPPLY_C + 1.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        rack_rise = np.zeros(self.topology.n_gpus)
        for rack, since_s in self._rack_cooling.items():
            ramp_s = max(20.0, 0.3 * self.run_s)
            rise = COOLING_FAILURE_RISE_C * min(1.0, (t_s - since_s) / ramp_s)
            rack_rise[self.topology.rack_of_gpu == rack] = rise
        # What the rack's CDU delivers and what the GPUs draw, for the facility model
        # (collectors/facility/synthetic.py): facility sensors see a failure before the GPUs do.
        self.coolant_supply_c = supply + rack_rise
        self.gpu_power_w = power_w
        target = supply + rack_rise + 0.021 * power_w + self._temp_offset_c
        alpha = 1.0 - math.exp(-self.interval_s / THERMAL_TAU_S)
        self._gpu_temp += (target - self._gpu_temp) * alpha
        self._mem_temp += (target + 2.0 + 0.011 * power_w - self._mem_temp) * alpha

    def _advance_counters(
        self, dt: float, power_w: np.ndarray, active: np.ndarray, computing: np.ndarray, checkpointing: np.ndarray
    ) -> None:
        rng, n, c = self._rng, self.topology.n_gpus, self._counters
        self._energy_mj += np.round(power_w * 1000.0 * dt).astype(np.uint64)
        nvlink_kib_s = np.where(active & ~computing & ~checkpointing, 1.5e8, np.where(active, 2.0e7, 0.0))
        c["nvlink_tx_kib"] += (nvlink_kib_s * dt).astype(np.uint64)
        c["nvlink_rx_kib"] += (nvlink_kib_s * 0.98 * dt).astype(np.uint64)
        c["ecc_corrected_count"] += rng.poisson(2e-5 * dt, n).astype(np.uint64)
        c["pcie_replay_count"] += rng.poisson(1e-5 * dt, n).astype(np.uint64)

    # ---- faults and events ---------------------------------------------------------
    def _fire_faults(self, t_s: float, ts_ms: int) -> list[GpuEvent]:
        events: list[GpuEvent] = []
        while self._pending and self._pending[0][0] <= t_s:
            at_s, spec, gpus = self._pending.pop(0)
            end_s = at_s + spec.duration_s(self.run_s)
            end_ms = None if math.isinf(end_s) else self.start_ms + round(end_s * 1000)
            self.truth.append(InjectedFault(spec.kind, ts_ms, end_ms, gpus, spec.xid))
            events += self._start_fault(spec.kind, gpus, t_s, ts_ms, spec.xid)
            if end_ms is not None:
                self._active_windows.append((end_s, at_s, spec.kind, gpus))
        for window in [w for w in self._active_windows if w[0] <= t_s]:
            self._active_windows.remove(window)
            self._end_fault(window[2], window[3])
        return events

    def _start_fault(self, kind: str, gpus: tuple[int, ...], t_s: float, ts_ms: int, xid: int | None) -> list[GpuEvent]:
        idx = np.asarray(gpus, dtype=np.intp)
        topo = self.topology
        if kind == "cooling_failure":
            self._rack_cooling[int(topo.rack_of_gpu[idx[0]])] = t_s
        elif kind == "straggler":
            self._straggler[idx] = True
        elif kind == "power_brake":
            self._brake[idx] = True
        elif kind == "node_down":
            self._node_up[int(topo.node_of_gpu[idx[0]] - topo.node_of_gpu[0])] = False
        else:
            code = {"ecc_dbe": 48, "gpu_lost": 79}.get(kind, xid)
            return [e for g in gpus for e in self._xid_events(g, code, ts_ms)] if code is not None else []
        return []

    def _end_fault(self, kind: str, gpus: tuple[int, ...]) -> None:
        idx = np.asarray(gpus, dtype=np.intp)
        topo = self.topology
        if kind == "cooling_failure":
            self._rack_cooling.pop(int(topo.rack_of_gpu[idx[0]]), None)
        elif kind == "straggler":
            self._straggler[idx] = False
        elif kind == "power_brake":
            self._brake[idx] = False
        elif kind == "node_down":
            self._node_up[int(topo.node_of_gpu[idx[0]] - topo.node_of_gpu[0])] = True

    def _random_xids(self, ts_ms: int) -> list[GpuEvent]:
        rate = self.scenario.xid_rate_per_gpu_hour
        if rate <= 0:
            return []
        candidates = np.flatnonzero(self._alive)
        count = int(self._rng.poisson(rate * len(candidates) * self.interval_s / 3600.0))
        events = []
        for gpu in self._rng.choice(candidates, size=min(count, len(candidates)), replace=False).tolist():
            xid = int(self._rng.choice(self._xid_codes, p=self._xid_probs))
            self.truth.append(InjectedFault("xid", ts_ms, None, (gpu,), xid))
            events += self._xid_events(gpu, xid, ts_ms)
        return events

    def _xid_events(self, gpu: int, xid: int, ts_ms: int) -> list[GpuEvent]:
        """Apply what the XID does to the GPU's state, and describe it as events."""
        c = self._counters
        if xid in (48, 94, 95, 140):
            c["ecc_uncorrected_count"][gpu] += 1
        if xid == 48:
            self._remap_unc[gpu] += 1
            self._remap_pending[gpu] = True
        elif xid == 63:
            self._remap_corr[gpu] += 1
        elif xid == 64:
            self._remap_failure[gpu] = True
        elif xid == 74:
            c["nvlink_replay_errors"][gpu] += 3
            c["nvlink_recovery_errors"][gpu] += 1
        info = lookup(xid)
        events = [self._event(gpu, ts_ms, "xid", xid=xid, severity=info.severity, detail=info.describe())]
        if xid == 79:
            self._alive[gpu] = False
            events.append(self._event(gpu, ts_ms, "gpu_lost", severity="critical", detail="GPU stopped answering (GPU_IS_LOST)"))
        return events

    def _event(self, gpu: int, ts_ms: int, kind: str, **fields: object) -> GpuEvent:
        labels = {k: self.topology.labels[k].values[self.topology.labels[k].codes[gpu]] for k in self.topology.labels}
        uuid = labels.pop("uuid")
        return GpuEvent.model_validate(
            {"ts_ms": ts_ms, "kind": kind, "gpu_index": int(self.topology.gpu_index[gpu]), "uuid": uuid, **labels, **fields}
        )

    # ---- identity ------------------------------------------------------------------
    def inventory(self, ts_ms: int | None = None) -> list[GpuInventory]:
        topo = self.topology
        rng = np.random.default_rng([self.seed, 0x1F0])
        serials = rng.integers(10**12, 10**13, topo.n_gpus).tolist()
        out = []
        for gpu in range(topo.n_gpus):
            model = MODELS[int(topo.model_of_gpu[gpu])]
            labels = {k: topo.labels[k].values[topo.labels[k].codes[gpu]] for k in topo.labels}
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
                    **labels,
                )
            )
        return out
