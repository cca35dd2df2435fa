"""Which frame column becomes which dcgm-exporter metric, in which unit.

One table, so the mapping in docs/collector.md, the exposition and its tests cannot drift.
Names, types and units are dcgm-exporter's (`etc/default-counters.csv`, DCGM's
`dcgm_fields.h`): power in W where NVML says mW, energy in mJ as DCGM keeps it, memory in
MiB, clocks in MHz, `DCGM_FI_PROF_*` as 0–1 ratios where GPM says percent. A column the
frame does not carry is not served at all (no series rather than a made-up 0); a null
value leaves that GPU's series out for that scrape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from gpufleet.contract.frame import GpuFrame

Kind = Literal["gauge", "counter"]
# values as float64 and a null mask (True = no value for that row)
Values = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class ExportedMetric:
    """One dcgm-exporter metric: its name, type and help, and how a frame fills it."""

    name: str
    kind: Kind
    doc: str
    columns: tuple[str, ...]  # frame metric columns it needs; all must be present
    scale: float = 1.0  # multiplied into the (combined) column values
    divisor: float = 1.0  # then divided: mW / 1000 is exact where mW * 0.001 is not
    combine: Callable[[list[np.ndarray]], np.ndarray] | None = None  # default: the one column

    def values(self, frame: GpuFrame) -> Values | None:
        """This metric's per-row values, or None when the frame lacks a column it needs."""
        if any(c not in frame.metrics for c in self.columns):
            return None
        arrays = [frame.metrics[c].astype(np.float64) for c in self.columns]
        nulls = np.zeros(len(frame), dtype=np.bool_)
        for c in self.columns:
            nulls |= frame.null_mask(c)
        raw = arrays[0] if self.combine is None else self.combine(arrays)
        if self.scale != 1.0:
            raw = raw * self.scale
        if self.divisor != 1.0:
            raw = raw / self.divisor
        return raw, nulls


def _sum(arrays: list[np.ndarray]) -> np.ndarray:
    total: np.ndarray = np.sum(arrays, axis=0)
    return total


def _free(arrays: list[np.ndarray]) -> np.ndarray:
    total, used = arrays
    free: np.ndarray = np.maximum(total - used, 0.0)
    return free


def _m(
    name: str,
    kind: Kind,
    doc: str,
    *columns: str,
    scale: float = 1.0,
    divisor: float = 1.0,
    combine: Callable[[list[np.ndarray]], np.ndarray] | None = None,
) -> ExportedMetric:
    return ExportedMetric(name, kind, doc, columns, scale, divisor, combine)


def _counter(
    name: str, doc: str, *columns: str, combine: Callable[[list[np.ndarray]], np.ndarray] | None = None
) -> ExportedMetric:
    return _m(name, "counter", doc, *columns, combine=combine)


MW_PER_W: Final = 1000.0
PCT_PER_RATIO: Final = 100.0
MIB: Final = float(1 << 20)

# The frame's columns (gpufleet.contract.columns), always present in an NVML or synthetic frame.
DEV_METRICS: Final[tuple[ExportedMetric, ...]] = (
    _m("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", "gpu_temp_c"),
    _m("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory (HBM) temperature (in C).", "mem_temp_c"),
    _m("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw, 1 s average (in W).", "power_mw", divisor=MW_PER_W),
    _m("DCGM_FI_DEV_POWER_USAGE_INSTANT", "gauge", "Instantaneous power draw (in W).", "power_instant_mw", divisor=MW_PER_W),
    _m("DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "gauge", "Enforced power limit (in W).", "power_limit_mw", divisor=MW_PER_W),
    _counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ).", "energy_mj"),
    _m("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", "util_gpu_pct"),
    _m("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", "util_mem_pct"),
    _m("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", "sm_clock_mhz"),
    _m("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", "mem_clock_mhz"),
    _m("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", "mem_used_mib"),
    _m("DCGM_FI_DEV_FB_TOTAL", "gauge", "Framebuffer memory total (in MiB).", "mem_total_mib"),
    _m(
        "DCGM_FI_DEV_FB_FREE",
        "gauge",
        "Framebuffer memory free (in MiB): total minus used, the driver's reservation counted as free.",
        "mem_total_mib",
        "mem_used_mib",
        combine=_free,
    ),
    _m("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Clocks-event (throttle) reasons, NVML bitmask.", "clocks_event_reasons"),
    _m("DCGM_FI_DEV_PSTATE", "gauge", "Performance state (P0-P15).", "pstate"),
    _counter("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Volatile corrected (single-bit) ECC errors.", "ecc_corrected_count"),
    _counter("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Volatile uncorrected (double-bit) ECC errors.", "ecc_uncorrected_count"),
    *(
        _counter(f"DCGM_FI_DEV_{k.upper()}_REMAPPED_ROWS", f"Number of remapped rows for {k} errors.", f"remapped_rows_{k}")
        for k in ("correctable", "uncorrectable")
    ),
    _m("DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge", "Whether a row remap is pending (reset the GPU).", "remap_pending"),
    _m("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed.", "remap_failure"),
    _m("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "gauge", "PCIe TX throughput over 20 ms (in KB/s).", "pcie_tx_kbps"),
    _m("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "gauge", "PCIe RX throughput over 20 ms (in KB/s).", "pcie_rx_kbps"),
    _counter("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", "pcie_replay_count"),
    _counter(
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "NVLink data TX + RX over all links (in KiB, NVML fields 138 + 139).",
        "nvlink_tx_kib",
        "nvlink_rx_kib",
        combine=_sum,
    ),
    _counter("DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", "NVLink replay errors, all links.", "nvlink_replay_errors"),
    _counter("DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "NVLink recovery errors, all links.", "nvlink_recovery_errors"),
    # DCGM splits CRC errors into flit (409) and data (419); NVML's totals 38 + 45 travel as
    # one column, so it is served under our own name rather than as half of DCGM's pair.
    _counter(
        "gpufleet_nvlink_crc_errors", "NVLink CRC errors, flit + data, all links (NVML fields 38 + 45).", "nvlink_crc_errors"
    ),
)

# GPM activity (NVML GPM on Hopper+, issue 15): a GPU without GPM has these columns null and
# its series are not served (never 0). GPM gives percent (and MiB/s), DCGM's profiling fields
# are 0–1 ratios (and B/s).
GPM_COLUMNS: Final[dict[str, str]] = {
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "graphics_active_pct",
    "DCGM_FI_PROF_SM_ACTIVE": "sm_active_pct",
    "DCGM_FI_PROF_SM_OCCUPANCY": "sm_occupancy_pct",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "tensor_active_pct",
    "DCGM_FI_PROF_PIPE_TENSOR_HMMA_ACTIVE": "hmma_active_pct",
    "DCGM_FI_PROF_DRAM_ACTIVE": "dram_active_pct",
    "DCGM_FI_PROF_PIPE_FP64_ACTIVE": "fp64_active_pct",
    "DCGM_FI_PROF_PIPE_FP32_ACTIVE": "fp32_active_pct",
    "DCGM_FI_PROF_PIPE_FP16_ACTIVE": "fp16_active_pct",
}
GPM_RATE_COLUMNS: Final[dict[str, str]] = {
    "DCGM_FI_PROF_PCIE_TX_BYTES": "gpm_pcie_tx_mibps",
    "DCGM_FI_PROF_PCIE_RX_BYTES": "gpm_pcie_rx_mibps",
    "DCGM_FI_PROF_NVLINK_TX_BYTES": "gpm_nvlink_tx_mibps",
    "DCGM_FI_PROF_NVLINK_RX_BYTES": "gpm_nvlink_rx_mibps",
}
PROF_METRICS: Final[tuple[ExportedMetric, ...]] = (
    *(
        _m(n, "gauge", f"Ratio of time {n.removeprefix('DCGM_FI_PROF_').lower()} (0-1, from GPM).", c, divisor=PCT_PER_RATIO)
        for n, c in GPM_COLUMNS.items()
    ),
    *(_m(n, "gauge", "Bytes per second (GPM).", c, scale=MIB) for n, c in GPM_RATE_COLUMNS.items()),
)

FRAME_METRICS: Final[tuple[ExportedMetric, ...]] = (*DEV_METRICS, *PROF_METRICS)

# Served from events, not frame columns (see exposition.py).
XID_METRIC: Final = "DCGM_FI_DEV_XID_ERRORS"
XID_COUNT_METRIC: Final = "gpufleet_xid_events"  # counter: every XID, which the last-value gauge hides
