"""Where each metric column comes from in NVML, as a table.

Each entry is one read: either a group of field IDs answered by the batched
`nvmlDeviceGetFieldValues` (one call per GPU per tick for all of them), or one NVML
function call that fills one or more columns. A column may appear in several reads: the
first one a device supports wins, so an old driver without field 185 (average power) still
gets `power_mw` from `nvmlDeviceGetPowerUsage`. Every column of `gpufleet.contract.columns.METRIC_COLUMNS`
except the GPM ones has at least one read (a test holds the table to that); the GPM columns
are computed between two GPM samples by `collectors.nvml.gpm`.

Values stay in NVML's native units except memory, which NVML gives in bytes and the
column carries in MiB (`mem_used_mib`), as nvidia-smi shows it.

`slow` reads block inside the driver for milliseconds (measured on an H200, see
docs/hardware/nvidia-h200.md: `nvmlDeviceGetPcieThroughput` samples a 20 ms window per
call, the energy counter takes ~3 ms, p99 15 ms). They run on the source's background
refresher instead of inside the tick, and the tick publishes their latest value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from collectors.nvml.lib import ALL_LINKS_SCOPE

Converter = Callable[[Any], tuple[int | None, ...]]

PSTATE_UNKNOWN = 32
MIB = 1 << 20
MEMORY_V2 = 0x02000028  # nvmlMemory_v2: `used` without the driver's reserved memory, as nvidia-smi

# NVML field IDs (nvidia-ml-py 13.x `NVML_FI_DEV_*`).
FI_ECC_SBE_VOL_TOTAL = 3
FI_ECC_DBE_VOL_TOTAL = 4
FI_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL = 38
FI_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL = 45
FI_NVLINK_REPLAY_ERROR_COUNT_TOTAL = 52
FI_NVLINK_RECOVERY_ERROR_COUNT_TOTAL = 59
FI_MEMORY_TEMP = 82
FI_TOTAL_ENERGY_CONSUMPTION = 83
FI_PCIE_REPLAY_COUNTER = 94
FI_NVLINK_THROUGHPUT_DATA_TX = 138
FI_NVLINK_THROUGHPUT_DATA_RX = 139
FI_REMAPPED_COR = 142
FI_REMAPPED_UNC = 143
FI_REMAPPED_PENDING = 144
FI_REMAPPED_FAILURE = 145
FI_POWER_AVERAGE = 185
FI_POWER_INSTANT = 186
FI_GET_GPU_RECOVERY_ACTION = 230  # driver r570+; NOT_SUPPORTED (null) before

# Function arguments (nvml.h enum values; stable ABI).
TEMPERATURE_GPU = 0
CLOCK_SM = 1
CLOCK_MEM = 2
PCIE_UTIL_TX_BYTES = 0
PCIE_UTIL_RX_BYTES = 1
MEMORY_ERROR_TYPE_CORRECTED = 0
MEMORY_ERROR_TYPE_UNCORRECTED = 1
VOLATILE_ECC = 0


@dataclass(frozen=True, slots=True)
class FieldRead:
    """`column` = the sum of `field_ids` from one `nvmlDeviceGetFieldValues` batch.

    A sum needs every part: if one part is unsupported the column is null, because a
    partial sum would look like a real (smaller) counter.
    """

    column: str
    field_ids: tuple[int, ...]
    scope_id: int | None = None
    slow: bool = False

    @property
    def key(self) -> str:
        return f"field:{'+'.join(map(str, self.field_ids))}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def request(self) -> list[int | tuple[int, int]]:
        if self.scope_id is None:
            return list(self.field_ids)
        return [(fid, self.scope_id) for fid in self.field_ids]


@dataclass(frozen=True, slots=True)
class CallRead:
    """One NVML function call, `function(handle, *args)`, converted into `columns`.

    `mig_unsupported`: NVML does not answer this on a MIG-enabled GPU (utilization), so
    the collector does not ask and the columns are null.
    """

    function: str
    args: tuple[int, ...]
    columns: tuple[str, ...]
    convert: Converter
    mig_unsupported: bool = False
    slow: bool = False

    @property
    def key(self) -> str:
        return f"{self.function}({', '.join(map(str, self.args))})"


Read = FieldRead | CallRead


def _one(value: Any) -> tuple[int | None, ...]:
    return (int(value),)


def _pstate(value: Any) -> tuple[int | None, ...]:
    return (None if value == PSTATE_UNKNOWN else int(value),)


def _memory(info: Any) -> tuple[int | None, ...]:
    return (int(info.used) // MIB, int(info.total) // MIB)


def _utilization(util: Any) -> tuple[int | None, ...]:
    return (int(util.gpu), int(util.memory))


def _remapped(rows: Any) -> tuple[int | None, ...]:
    corr, unc, pending, failure = rows
    return (int(corr), int(unc), int(bool(pending)), int(bool(failure)))


# Order matters: for a column in several reads, the earlier read is preferred.
READS: Final[tuple[Read, ...]] = (
    FieldRead("power_mw", (FI_POWER_AVERAGE,)),
    CallRead("nvmlDeviceGetPowerUsage", (), ("power_mw",), _one),
    FieldRead("power_instant_mw", (FI_POWER_INSTANT,)),
    FieldRead("energy_mj", (FI_TOTAL_ENERGY_CONSUMPTION,), slow=True),
    CallRead("nvmlDeviceGetTotalEnergyConsumption", (), ("energy_mj",), _one, slow=True),
    CallRead("nvmlDeviceGetEnforcedPowerLimit", (), ("power_limit_mw",), _one),
    CallRead("nvmlDeviceGetTemperature", (TEMPERATURE_GPU,), ("gpu_temp_c",), _one),
    FieldRead("mem_temp_c", (FI_MEMORY_TEMP,)),
    CallRead("nvmlDeviceGetUtilizationRates", (), ("util_gpu_pct", "util_mem_pct"), _utilization, True),
    CallRead("nvmlDeviceGetMemoryInfo", (MEMORY_V2,), ("mem_used_mib", "mem_total_mib"), _memory),
    CallRead("nvmlDeviceGetMemoryInfo", (), ("mem_used_mib", "mem_total_mib"), _memory),
    CallRead("nvmlDeviceGetClockInfo", (CLOCK_SM,), ("sm_clock_mhz",), _one),
    CallRead("nvmlDeviceGetClockInfo", (CLOCK_MEM,), ("mem_clock_mhz",), _one),
    CallRead("nvmlDeviceGetCurrentClocksEventReasons", (), ("clocks_event_reasons",), _one),
    CallRead("nvmlDeviceGetPerformanceState", (), ("pstate",), _pstate),
    FieldRead("ecc_corrected_count", (FI_ECC_SBE_VOL_TOTAL,)),
    CallRead("nvmlDeviceGetTotalEccErrors", (MEMORY_ERROR_TYPE_CORRECTED, VOLATILE_ECC), ("ecc_corrected_count",), _one),
    FieldRead("ecc_uncorrected_count", (FI_ECC_DBE_VOL_TOTAL,)),
    CallRead("nvmlDeviceGetTotalEccErrors", (MEMORY_ERROR_TYPE_UNCORRECTED, VOLATILE_ECC), ("ecc_uncorrected_count",), _one),
    FieldRead("remapped_rows_correctable", (FI_REMAPPED_COR,)),
    FieldRead("remapped_rows_uncorrectable", (FI_REMAPPED_UNC,)),
    FieldRead("remap_pending", (FI_REMAPPED_PENDING,)),
    FieldRead("remap_failure", (FI_REMAPPED_FAILURE,)),
    CallRead(
        "nvmlDeviceGetRemappedRows",
        (),
        ("remapped_rows_correctable", "remapped_rows_uncorrectable", "remap_pending", "remap_failure"),
        _remapped,
    ),
    CallRead("nvmlDeviceGetPcieThroughput", (PCIE_UTIL_TX_BYTES,), ("pcie_tx_kbps",), _one, slow=True),
    CallRead("nvmlDeviceGetPcieThroughput", (PCIE_UTIL_RX_BYTES,), ("pcie_rx_kbps",), _one, slow=True),
    FieldRead("pcie_replay_count", (FI_PCIE_REPLAY_COUNTER,)),
    CallRead("nvmlDeviceGetPcieReplayCounter", (), ("pcie_replay_count",), _one),
    FieldRead("nvlink_tx_kib", (FI_NVLINK_THROUGHPUT_DATA_TX,), ALL_LINKS_SCOPE),
    FieldRead("nvlink_rx_kib", (FI_NVLINK_THROUGHPUT_DATA_RX,), ALL_LINKS_SCOPE),
    FieldRead("nvlink_crc_errors", (FI_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, FI_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL)),
    FieldRead("nvlink_replay_errors", (FI_NVLINK_REPLAY_ERROR_COUNT_TOTAL,)),
    FieldRead("nvlink_recovery_errors", (FI_NVLINK_RECOVERY_ERROR_COUNT_TOTAL,)),
    FieldRead("recovery_action", (FI_GET_GPU_RECOVERY_ACTION,)),
)


SLOW_COLUMNS: Final[frozenset[str]] = frozenset(c for r in READS if r.slow for c in r.columns)


def reads_for(column: str) -> list[Read]:
    """The reads that can fill `column`, preferred first."""
    return [r for r in READS if column in r.columns]
