"""The per-GPU metric columns, declared once (the table is `data/metric_columns.csv`).

The wire model (`gpufleet.contract.schema.GpuSample`), the columnar frame (`gpufleet.contract.frame`), the
synthetic fleet, the NVML source and the ClickHouse table all use these names, so a metric
is called the same thing from the GPU to the Grafana panel. Values stay in NVML's native
integer units; the unit is the last part of the name.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
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


# numpy dtype and ClickHouse type of each `dtype` word in the table.
_TYPES: Final[dict[str, tuple[type[np.generic], str]]] = {
    "uint8": (np.uint8, "UInt8"),
    "uint16": (np.uint16, "UInt16"),
    "uint32": (np.uint32, "UInt32"),
    "uint64": (np.uint64, "UInt64"),
    "int16": (np.int16, "Int16"),
    "bool": (np.bool_, "Bool"),
}


def _load() -> tuple[MetricColumn, ...]:
    """The table `data/metric_columns.csv`, one row per metric in column order.

    Codecs are as in force after migration 002 (chosen by measurement: docs/storage.md); 001
    created the table with the first choice per shared/reference/pipeline-libraries.md §3.
    """
    text = resources.files("gpufleet.contract.data").joinpath("metric_columns.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        dtype, ch_type = _TYPES[row["dtype"]]
        out.append(MetricColumn(row["name"], dtype, ch_type, row["codec"], row["nvml"], row["counter"] == "1"))
    return tuple(out)


METRIC_COLUMNS: Final[tuple[MetricColumn, ...]] = _load()
# GPM (Hopper+) columns (sm_active_pct ... gpm_nvlink_rx_mibps) are computed between this tick's
# and the last tick's GPM sample. NVML gives doubles; the columns keep whole percent and whole
# MiB/s, rounded to nearest (see GPM_METRICS below for why). Codecs by measurement
# (benchmarks/storage_codecs.py, docs/storage.md): ZSTD(1) for the percentages (ZSTD(3) saves
# < 3 %, deltas cost up to 25 %), DoubleDelta for the throughputs, which hold a level per phase.

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
