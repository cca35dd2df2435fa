"""The per-GPU metric columns, declared once.

The wire model (`gpufleet.contract.schema.GpuSample`), the columnar frame (`gpufleet.contract.frame`), the
synthetic fleet, the NVML source and the ClickHouse table all use these names, so a metric
is called the same thing from the GPU to the Grafana panel. Values stay in NVML's native
integer units; the unit is the last part of the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np


@dataclass(frozen=True, slots=True)
class MetricColumn:
    """One per-GPU metric: its numpy dtype, ClickHouse type and codec, and where NVML has it."""

    name: str
    dtype: type[np.generic]
    ch_type: str
    codec: str
    nvml: str
    counter: bool = False  # only ever goes up (until a driver reload)


def _m(name: str, dtype: type[np.generic], codec: str, nvml: str, counter: bool = False) -> MetricColumn:
    ch = {
        np.uint8: "UInt8",
        np.uint16: "UInt16",
        np.uint32: "UInt32",
        np.uint64: "UInt64",
        np.int16: "Int16",
        np.bool_: "Bool",
    }[dtype]
    return MetricColumn(name, dtype, ch, codec, nvml, counter)


# Codecs as in force after migration 002 (chosen by measurement: docs/storage.md); 001
# created the table with the first choice per shared/reference/pipeline-libraries.md §3.
METRIC_COLUMNS: Final[tuple[MetricColumn, ...]] = (
    _m("power_mw", np.uint32, "T64, ZSTD(1)", "NVML_FI_DEV_POWER_AVERAGE (185) / nvmlDeviceGetPowerUsage"),
    _m("power_instant_mw", np.uint32, "T64, ZSTD(1)", "NVML_FI_DEV_POWER_INSTANT (186)"),
    _m("energy_mj", np.uint64, "Delta, T64, ZSTD(1)", "NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION (83)", counter=True),
    _m("power_limit_mw", np.uint32, "Delta, ZSTD(1)", "nvmlDeviceGetEnforcedPowerLimit"),
    _m("gpu_temp_c", np.int16, "DoubleDelta, ZSTD(1)", "nvmlDeviceGetTemperature(GPU)"),
    _m("mem_temp_c", np.int16, "ZSTD(3)", "NVML_FI_DEV_MEMORY_TEMP (82), HBM"),
    _m("util_gpu_pct", np.uint8, "ZSTD(1)", "nvmlDeviceGetUtilizationRates().gpu"),
    _m("util_mem_pct", np.uint8, "ZSTD(3)", "nvmlDeviceGetUtilizationRates().memory"),
    _m("mem_used_mib", np.uint32, "ZSTD(1)", "nvmlDeviceGetMemoryInfo().used"),
    _m("mem_total_mib", np.uint32, "Delta, ZSTD(1)", "nvmlDeviceGetMemoryInfo().total"),
    _m("sm_clock_mhz", np.uint16, "ZSTD(1)", "nvmlDeviceGetClockInfo(SM)"),
    _m("mem_clock_mhz", np.uint16, "ZSTD(1)", "nvmlDeviceGetClockInfo(MEM)"),
    _m("clocks_event_reasons", np.uint64, "T64, ZSTD(1)", "nvmlDeviceGetCurrentClocksEventReasons (bitmask)"),
    _m("pstate", np.uint8, "ZSTD(1)", "nvmlDeviceGetPerformanceState"),
    _m("ecc_corrected_count", np.uint64, "Delta, ZSTD(1)", "nvmlDeviceGetTotalEccErrors(CORRECTED, VOLATILE)", counter=True),
    _m("ecc_uncorrected_count", np.uint64, "Delta, ZSTD(1)", "nvmlDeviceGetTotalEccErrors(UNCORRECTED, VOLATILE)", counter=True),
    _m("remapped_rows_correctable", np.uint16, "Delta, ZSTD(1)", "nvmlDeviceGetRemappedRows()[0]", counter=True),
    _m("remapped_rows_uncorrectable", np.uint16, "Delta, ZSTD(1)", "nvmlDeviceGetRemappedRows()[1]", counter=True),
    _m("remap_pending", np.bool_, "ZSTD(1)", "nvmlDeviceGetRemappedRows()[2]"),
    _m("remap_failure", np.bool_, "ZSTD(1)", "nvmlDeviceGetRemappedRows()[3]"),
    _m("pcie_tx_kbps", np.uint32, "Delta, ZSTD(1)", "nvmlDeviceGetPcieThroughput(TX_BYTES), KB/s"),
    _m("pcie_rx_kbps", np.uint32, "Delta, ZSTD(1)", "nvmlDeviceGetPcieThroughput(RX_BYTES), KB/s"),
    _m("pcie_replay_count", np.uint64, "Delta, ZSTD(1)", "NVML_FI_DEV_PCIE_REPLAY_COUNTER (94)", counter=True),
    _m("nvlink_tx_kib", np.uint64, "DoubleDelta, ZSTD(1)", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX (138), summed", counter=True),
    _m("nvlink_rx_kib", np.uint64, "DoubleDelta, ZSTD(1)", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX (139), summed", counter=True),
    _m(
        "nvlink_crc_errors",
        np.uint64,
        "Delta, ZSTD(1)",
        "NVML_FI_DEV_NVLINK_CRC_FLIT/DATA_ERROR_COUNT_TOTAL (38+45)",
        counter=True,
    ),
    _m("nvlink_replay_errors", np.uint64, "Delta, ZSTD(1)", "NVML_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL (52)", counter=True),
    _m("nvlink_recovery_errors", np.uint64, "Delta, ZSTD(1)", "NVML_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL (59)", counter=True),
    # GPM (Hopper+), computed between this tick's and the last tick's GPM sample. NVML gives
    # doubles; the columns keep whole percent and whole MiB/s, rounded to nearest (see
    # GPM_METRICS below for why). Codecs by measurement (benchmarks/storage_codecs.py,
    # docs/storage.md): ZSTD(1) for the percentages (ZSTD(3) saves < 3 %, deltas cost up to
    # 25 %), DoubleDelta for the throughputs, which hold a level per phase (0.19 -> 0.02 B).
    _m("sm_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_SM_UTIL (2)"),
    _m("sm_occupancy_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_SM_OCCUPANCY (3)"),
    _m("tensor_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_ANY_TENSOR_UTIL (5)"),
    _m("hmma_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_HMMA_TENSOR_UTIL (7)"),
    _m("dram_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_DRAM_BW_UTIL (10)"),
    _m("fp64_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_FP64_UTIL (11)"),
    _m("fp32_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_FP32_UTIL (12)"),
    _m("fp16_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_FP16_UTIL (13)"),
    _m("graphics_active_pct", np.uint8, "ZSTD(1)", "GPM NVML_GPM_METRIC_GRAPHICS_UTIL (1)"),
    _m("gpm_pcie_tx_mibps", np.uint32, "DoubleDelta, ZSTD(1)", "GPM NVML_GPM_METRIC_PCIE_TX_PER_SEC (20), MiB/s"),
    _m("gpm_pcie_rx_mibps", np.uint32, "DoubleDelta, ZSTD(1)", "GPM NVML_GPM_METRIC_PCIE_RX_PER_SEC (21), MiB/s"),
    _m("gpm_nvlink_tx_mibps", np.uint32, "DoubleDelta, ZSTD(1)", "GPM NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC (61), MiB/s"),
    _m("gpm_nvlink_rx_mibps", np.uint32, "DoubleDelta, ZSTD(1)", "GPM NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC (60), MiB/s"),
    _m("recovery_action", np.uint8, "ZSTD(1)", "NVML_FI_DEV_GET_GPU_RECOVERY_ACTION (230), nvmlDeviceGpuRecoveryAction_t"),
)

# GPM metric id -> column. Whole percent (UInt8) rather than Float32: the same resolution as
# NVML's own utilization.gpu and nvidia-smi, a quarter of the bytes before compression, and
# the integer path every other column takes through the wire, the decoder and the store;
# dcgm-exporter's 0-1 ratios are these divided by 100. Measured sizes: docs/storage.md.
GPM_METRICS: Final[dict[int, str]] = {
    2: "sm_active_pct",
    3: "sm_occupancy_pct",
    5: "tensor_active_pct",
    7: "hmma_active_pct",
    10: "dram_active_pct",
    11: "fp64_active_pct",
    12: "fp32_active_pct",
    13: "fp16_active_pct",
    1: "graphics_active_pct",
    20: "gpm_pcie_tx_mibps",
    21: "gpm_pcie_rx_mibps",
    61: "gpm_nvlink_tx_mibps",
    60: "gpm_nvlink_rx_mibps",
}
GPM_COLUMNS: Final[tuple[str, ...]] = tuple(GPM_METRICS.values())
GPM_PCT_COLUMNS: Final[tuple[str, ...]] = tuple(c for c in GPM_COLUMNS if c.endswith("_pct"))

METRICS_BY_NAME: Final[dict[str, MetricColumn]] = {m.name: m for m in METRIC_COLUMNS}
METRIC_NAMES: Final[tuple[str, ...]] = tuple(m.name for m in METRIC_COLUMNS)

# Topology labels carried by every node message, outermost first.
TOPOLOGY_LABELS: Final[tuple[str, ...]] = ("cluster", "hall", "row", "rack", "node")
# Per-row string columns of a GPU sample frame (topology plus the GPU's uuid).
LABEL_COLUMNS: Final[tuple[str, ...]] = (*TOPOLOGY_LABELS, "uuid")

# Validation bounds shared by the pydantic model and the vectorised frame check.
TEMP_MIN_C: Final = -40
TEMP_MAX_C: Final = 200
PCT_MAX: Final = 100
POWER_LIMIT_FACTOR: Final = 2  # power above twice the limit is a broken reading
TEMP_COLUMNS: Final = ("gpu_temp_c", "mem_temp_c")
PCT_COLUMNS: Final = ("util_gpu_pct", "util_mem_pct", *GPM_PCT_COLUMNS)
