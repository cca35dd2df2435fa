"""One tick of GPU physics: clocks, power, temperatures and counters from the workload.

From what each GPU is doing (`workload.Activity`) and its `GpuState`: the SM clock
(thermal throttle, HW power brake, stragglers) and the clocks-event reason bits, power
against the limit, liquid-cooling temperatures (GPU 41-50 °C under load, HBM hotter than
the core, thermal inertia, a diurnal drift of the coolant supply, a failing rack's rise),
and the counters that only go up (energy, ECC, PCIe replays, NVLink traffic).
`sample` returns every GPU's metric columns; the fleet picks the rows that report.
"""

from __future__ import annotations

import math

import numpy as np

from collectors.synthetic.state import COOLANT_SUPPLY_C, F64, GpuState
from collectors.synthetic.topology import FleetTopology
from collectors.synthetic.workload import Activity

# clocks-event reason bits (nvmlClocksEventReason*)
GPU_IDLE = 0x1
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80

IDLE_SM_CLOCK_MHZ = 345
THERMAL_TAU_S = 8.0
COOLING_FAILURE_RISE_C = 50.0


def sample(
    state: GpuState,
    work: Activity,
    topology: FleetTopology,
    rng: np.random.Generator,
    t_s: float,
    ts_ms: int,
    dt: float,
    run_s: float,
) -> dict[str, np.ndarray]:
    """Advance `state` by `dt` fleet seconds; the metric columns of every GPU, in frame order."""
    n, active, computing = topology.n_gpus, work.active, work.computing
    # a stalled GPU spins in a hung kernel: the engine reads 100 % busy at a fraction of the power
    busy = np.where(state.stalled, 0.35, work.busy)
    # throttling follows the temperature the GPU had when the tick began
    sw_thermal = state.gpu_temp_c >= state.temp_gpu_max_c
    hw_thermal = state.gpu_temp_c >= state.temp_slowdown_c
    clock = np.ones(n)
    clock = np.where(state.straggler, 0.78, clock)
    clock = np.where(sw_thermal, np.minimum(clock, 0.85), clock)
    clock = np.where(hw_thermal, np.minimum(clock, 0.55), clock)
    clock = np.where(state.brake, np.minimum(clock, 0.40), clock)

    limit_w = state.power_limit_mw / 1000.0
    base_w = state.idle_w + np.where(active, 40.0, 0.0)  # allocated memory costs ~40 W
    power_w = base_w + (640.0 - base_w) * busy * clock + rng.normal(0.0, 5.0, n)
    power_w = np.where(state.brake, np.minimum(power_w, 200.0), power_w)
    capped = power_w > limit_w
    power_w = np.clip(power_w, 20.0, limit_w)
    instant_w = np.clip(power_w + rng.normal(0.0, 25.0, n), 20.0, limit_w * 1.1)

    _advance_temperatures(state, topology, t_s, ts_ms, dt, run_s, power_w)
    sm_clock = np.where(active, np.round(state.max_sm_clock_mhz * clock / 15.0) * 15.0, IDLE_SM_CLOCK_MHZ)
    util = np.where(active, np.clip(np.round(busy * clock / 0.95 * 100.0), 0, 100), 0)
    util = np.where(state.stalled, 100, util)
    reasons = (
        np.where(~active, GPU_IDLE, 0)
        | np.where(capped, SW_POWER_CAP, 0)
        | np.where(sw_thermal, SW_THERMAL, 0)
        | np.where(hw_thermal, HW_THERMAL | HW_SLOWDOWN, 0)
        | np.where(state.brake, HW_POWER_BRAKE | HW_SLOWDOWN, 0)
    )
    _advance_counters(state, work, rng, dt, power_w)
    return {
        "power_mw": np.round(power_w * 1000.0).astype(np.uint32),
        "power_instant_mw": np.round(instant_w * 1000.0).astype(np.uint32),
        "energy_mj": state.energy_mj.copy(),
        "power_limit_mw": state.power_limit_mw,
        "gpu_temp_c": np.round(state.gpu_temp_c).astype(np.int16),
        "mem_temp_c": np.round(state.mem_temp_c).astype(np.int16),
        "util_gpu_pct": util.astype(np.uint8),
        "util_mem_pct": np.round(util * 0.45).astype(np.uint8),
        "mem_used_mib": np.where(active, state.mem_total_mib * 0.9, 512).astype(np.uint32),
        "mem_total_mib": state.mem_total_mib,
        "sm_clock_mhz": sm_clock.astype(np.uint16),
        "mem_clock_mhz": state.mem_clock_mhz,
        "clocks_event_reasons": reasons.astype(np.uint64),
        "pstate": np.zeros(n, np.uint8),
        "remapped_rows_correctable": state.remap_corr.copy(),
        "remapped_rows_uncorrectable": state.remap_unc.copy(),
        "remap_pending": state.remap_pending.copy(),
        "remap_failure": state.remap_failure.copy(),
        "pcie_tx_kbps": np.where(active, np.where(computing, 3.0e5, 1.2e6), 2.0e3).astype(np.uint32),
        "pcie_rx_kbps": np.where(active, np.where(computing, 4.0e5, 1.1e6), 1.5e3).astype(np.uint32),
        **{k: v.copy() for k, v in state.counters.items()},
        "recovery_action": state.recovery_action.copy(),
    }


def nvlink_kib_s(work: Activity) -> F64:
    """NVLink traffic per GPU (KiB/s): heavy while a job communicates, light while it computes."""
    active, computing, checkpointing = work.active, work.computing, work.checkpointing
    rate: F64 = np.where(active & ~computing & ~checkpointing, 1.5e8, np.where(active, 2.0e7, 0.0))
    return rate


def _advance_temperatures(
    state: GpuState, topology: FleetTopology, t_s: float, ts_ms: int, dt: float, run_s: float, power_w: F64
) -> None:
    hour = (ts_ms / 3_600_000.0) % 24.0
    supply = COOLANT_SUPPLY_C + 1.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
    rack_rise = np.zeros(topology.n_gpus)
    for rack, since_s in state.rack_cooling.items():
        ramp_s = max(20.0, 0.3 * run_s)
        rise = COOLING_FAILURE_RISE_C * min(1.0, (t_s - since_s) / ramp_s)
        rack_rise[topology.rack_of_gpu == rack] = rise
    # What the rack's CDU delivers and what the GPUs draw, for the facility model
    # (collectors/facility/synthetic.py): facility sensors see a failure before the GPUs do.
    state.coolant_supply_c = supply + rack_rise
    state.gpu_power_w = power_w
    target = supply + rack_rise + 0.021 * power_w + state.temp_offset_c
    alpha = 1.0 - math.exp(-dt / THERMAL_TAU_S)
    state.gpu_temp_c += (target - state.gpu_temp_c) * alpha
    state.mem_temp_c += (target + 2.0 + 0.011 * power_w - state.mem_temp_c) * alpha


def _advance_counters(state: GpuState, work: Activity, rng: np.random.Generator, dt: float, power_w: F64) -> None:
    n, c = len(state.energy_mj), state.counters
    state.energy_mj += np.round(power_w * 1000.0 * dt).astype(np.uint64)
    rate = nvlink_kib_s(work)
    c["nvlink_tx_kib"] += (rate * dt).astype(np.uint64)
    c["nvlink_rx_kib"] += (rate * 0.98 * dt).astype(np.uint64)
    c["ecc_corrected_count"] += rng.poisson(2e-5 * dt, n).astype(np.uint64)
    c["pcie_replay_count"] += rng.poisson(1e-5 * dt, n).astype(np.uint64)
