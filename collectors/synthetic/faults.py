"""Faults from a `Scenario`: which GPUs they hit, when they start and end, what they do.

At construction each fault of the scenario gets its GPUs, drawn from a random stream of its
own: distinct busy nodes, and the failing rack first so that the single-node faults land
outside it. Every tick starts the faults that are due, ends those whose window has passed,
and draws random XIDs at the scenario's rate from the fleet's stream. A fault either flips
a switch in `GpuState` (cooling, straggler, power brake, node down) or is an XID, whose
effect on the counters and row remapping is applied here and described as `GpuEvent`s.
Everything injected is recorded as an `InjectedFault` in `truth`, so tests know what to
look for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collectors.synthetic.scenario import TARGET_OF, FaultSpec, Scenario
from collectors.synthetic.state import GpuState
from collectors.synthetic.topology import GPUS_PER_NODE, FleetTopology
from collectors.synthetic.xid_mix import xid_weights
from gpufleet.contract.recovery import recovery_action
from gpufleet.contract.schema import GpuEvent
from gpufleet.contract.xids import lookup

# the XID each fault kind raises; other kinds carry their own (`xid`) or none
FAULT_XID = {"ecc_dbe": 48, "gpu_lost": 79}
# the recovery action the driver then asks for (NVML field 230): a double-bit ECC error
# needs the GPU drained and reset, a GPU off the bus needs the node rebooted
XID_RECOVERY = {48: 4, 79: 2}  # DRAIN_AND_RESET, NODE_REBOOT
Placed = tuple[float, FaultSpec, tuple[int, ...]]  # (fleet second it starts, the fault, its GPUs)


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """Ground truth: what the scenario did, to which GPUs (topology-local ids), and when."""

    kind: str
    start_ms: int
    end_ms: int | None
    gpus: tuple[int, ...]
    xid: int | None = None


class FaultInjector:
    """The scenario's faults on one fleet: placed at construction, fired by `fire` each tick."""

    def __init__(
        self,
        topology: FleetTopology,
        state: GpuState,
        scenario: Scenario,
        busy_gpus: npt.NDArray[np.bool_],
        seed: int,
        run_s: float,
        start_ms: int,
        rng: np.random.Generator,
    ) -> None:
        self.topology, self.state, self.scenario = topology, state, scenario
        self.run_s, self.start_ms = run_s, start_ms
        self.truth: list[InjectedFault] = []
        self._rng = rng  # the fleet's stream, for random XIDs
        self._seed = seed
        self._pending: list[Placed] = []
        self.place(busy_gpus)
        self._active_windows: list[tuple[float, float, str, tuple[int, ...]]] = []
        self._xid_codes, self._xid_probs = xid_weights()

    # ---- placement -----------------------------------------------------------------
    def place(self, busy_gpus: npt.NDArray[np.bool_]) -> None:
        """(Re)pick the scenario's GPUs among `busy_gpus`; the same busy GPUs give the same picks."""
        self._pending = sorted(self._resolve(busy_gpus, np.random.default_rng([self._seed, 0xFA17])), key=lambda f: f[0])

    def _resolve(self, busy_gpus: npt.NDArray[np.bool_], rng: np.random.Generator) -> list[Placed]:
        """Pick each fault's GPUs: distinct busy nodes, the cooling rack apart from the rest."""
        busy_nodes = np.unique(self.topology.node_of_gpu[busy_gpus]).tolist()
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

    # ---- each tick -----------------------------------------------------------------
    def fire(self, t_s: float, ts_ms: int) -> list[GpuEvent]:
        """Start the faults due by fleet second `t_s`, end those whose window has passed."""
        events: list[GpuEvent] = []
        while self._pending and self._pending[0][0] <= t_s:
            at_s, spec, gpus = self._pending.pop(0)
            end_s = at_s + spec.duration_s(self.run_s)
            end_ms = None if math.isinf(end_s) else self.start_ms + round(end_s * 1000)
            self.truth.append(InjectedFault(spec.kind, ts_ms, end_ms, gpus, spec.xid))
            if not self._switch(spec.kind, gpus, True, t_s):
                code = FAULT_XID.get(spec.kind, spec.xid)
                events += [e for g in gpus for e in self._xid_events(g, code, ts_ms)] if code is not None else []
            if end_ms is not None:
                self._active_windows.append((end_s, at_s, spec.kind, gpus))
        for window in [w for w in self._active_windows if w[0] <= t_s]:
            self._active_windows.remove(window)
            self._switch(window[2], window[3], False, t_s)
        return events

    def start(self, kind: str, gpus: tuple[int, ...], t_s: float, ts_ms: int) -> None:
        """Turn on a switch fault now, outside the scenario (the NVML double's test controls)."""
        if not self._switch(kind, gpus, True, t_s):
            raise ValueError(f"{kind!r} is not a switch fault")
        self.truth.append(InjectedFault(kind, ts_ms, None, gpus))

    def _switch(self, kind: str, gpus: tuple[int, ...], on: bool, t_s: float) -> bool:
        """Turn a fault that is a state switch on or off; False if `kind` is none (an XID)."""
        idx = np.asarray(gpus, dtype=np.intp)
        topo, state = self.topology, self.state
        if kind == "cooling_failure":
            rack = int(topo.rack_of_gpu[idx[0]])
            if on:
                state.rack_cooling[rack] = t_s
            else:
                state.rack_cooling.pop(rack, None)
        elif kind == "straggler":
            state.straggler[idx] = on
        elif kind == "power_brake":
            state.brake[idx] = on
        elif kind == "stall":
            state.stalled[idx] = on
        elif kind == "node_down":
            state.node_up[int(topo.node_of_gpu[idx[0]] - topo.node_of_gpu[0])] = not on
        else:
            return False
        return True

    def random_xids(self, ts_ms: int, interval_s: float) -> list[GpuEvent]:
        """XIDs on random live GPUs, at the scenario's rate per GPU-hour."""
        rate = self.scenario.xid_rate_per_gpu_hour
        if rate <= 0:
            return []
        candidates = np.flatnonzero(self.state.alive)
        count = int(self._rng.poisson(rate * len(candidates) * interval_s / 3600.0))
        events = []
        for gpu in self._rng.choice(candidates, size=min(count, len(candidates)), replace=False).tolist():
            xid = int(self._rng.choice(self._xid_codes, p=self._xid_probs))
            self.truth.append(InjectedFault("xid", ts_ms, None, (gpu,), xid))
            events += self._xid_events(gpu, xid, ts_ms)
        return events

    # ---- what an XID does ----------------------------------------------------------
    def _xid_events(self, gpu: int, xid: int, ts_ms: int) -> list[GpuEvent]:
        """Apply what the XID does to the GPU's state, and describe it as events."""
        state = self.state
        c = state.counters
        if xid in (48, 94, 95, 140):
            c["ecc_uncorrected_count"][gpu] += 1
        if xid == 48:
            state.remap_unc[gpu] += 1
            state.remap_pending[gpu] = True
        elif xid == 63:
            state.remap_corr[gpu] += 1
        elif xid == 64:
            state.remap_failure[gpu] = True
        elif xid == 74:
            c["nvlink_replay_errors"][gpu] += 3
            c["nvlink_recovery_errors"][gpu] += 1
        info = lookup(xid)
        events = [self._event(gpu, ts_ms, "xid", xid=xid, severity=info.severity, detail=info.describe())]
        action = XID_RECOVERY.get(xid)
        if action is not None and state.recovery_action[gpu] != action:
            state.recovery_action[gpu] = action
            what = recovery_action(action)
            events.append(
                self._event(gpu, ts_ms, "recovery_action", recovery_action=action, severity=what.severity, detail=what.describe())
            )
        if xid == 79:
            state.alive[gpu] = False
            events.append(self._event(gpu, ts_ms, "gpu_lost", severity="critical", detail="GPU stopped answering (GPU_IS_LOST)"))
        return events

    def _event(self, gpu: int, ts_ms: int, kind: str, **fields: object) -> GpuEvent:
        labels = self.topology.labels_of(gpu)
        uuid = labels.pop("uuid")
        return GpuEvent.model_validate(
            {"ts_ms": ts_ms, "kind": kind, "gpu_index": int(self.topology.gpu_index[gpu]), "uuid": uuid, **labels, **fields}
        )
