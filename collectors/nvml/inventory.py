"""What each GPU is: identity, versions, limits and thresholds, read from the device.

Temperature thresholds are read at runtime (`nvmlDeviceGetTemperatureThreshold`) rather
than hard-coded: newer drivers print only margins in nvidia-smi, and the alert rules
compare against the device's own numbers. Anything the device does not report is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.nvml.fields import MIB
from collectors.nvml.lib import NvmlLib
from collectors.nvml.sampler import GpuState
from gpufleet.contract.columns import TEMP_MAX_C, TEMP_MIN_C
from gpufleet.contract.schema import GpuInventory

TEMPERATURE_THRESHOLD_SHUTDOWN = 0
TEMPERATURE_THRESHOLD_SLOWDOWN = 1
TEMPERATURE_THRESHOLD_MEM_MAX = 2
TEMPERATURE_THRESHOLD_GPU_MAX = 3
DEVICE_MIG_ENABLE = 1


def cuda_version_text(version: int | None) -> str | None:
    """NVML's CUDA driver version integer (12070) as nvidia-smi prints it ("12.7")."""
    if version is None:
        return None
    return f"{version // 1000}.{version % 1000 // 10}"


def mig_enabled(lib: NvmlLib, handle: Any) -> bool | None:
    """Current MIG mode; None where the GPU has no MIG (NOT_SUPPORTED)."""
    modes = lib.query("nvmlDeviceGetMigMode", handle)
    return None if modes is None else int(modes[0]) == DEVICE_MIG_ENABLE


def system_versions(lib: NvmlLib) -> tuple[str | None, str | None]:
    """(driver version, CUDA version) of this node."""
    driver = lib.query("nvmlSystemGetDriverVersion")
    cuda = lib.query("nvmlSystemGetCudaDriverVersion")
    return (None if driver is None else str(driver)), cuda_version_text(None if cuda is None else int(cuda))


def read_inventory(
    lib: NvmlLib, gpu: GpuState, labels: Mapping[str, str], ts_ms: int, versions: tuple[str | None, str | None]
) -> GpuInventory:
    """Identity and limits of one GPU (raises `NvmlCallError` only for LOST/REINIT)."""
    h = gpu.handle
    pci = lib.query("nvmlDeviceGetPciInfo", h)
    memory = lib.query("nvmlDeviceGetMemoryInfo", h)
    constraints = lib.query("nvmlDeviceGetPowerManagementLimitConstraints", h) or (None, None)
    return GpuInventory.model_validate(
        {
            **labels,
            "ts_ms": ts_ms,
            "gpu_index": gpu.index,
            "uuid": gpu.uuid,
            "serial": _text(lib.query("nvmlDeviceGetSerial", h)),
            "model": _text(lib.query("nvmlDeviceGetName", h)) or "unknown",
            "pci_bus_id": None if pci is None else _text(pci.busId),
            "driver_version": versions[0],
            "cuda_version": versions[1],
            "vbios_version": _text(lib.query("nvmlDeviceGetVbiosVersion", h)),
            "mem_total_mib": None if memory is None else int(memory.total) // MIB,
            "power_limit_default_mw": lib.query("nvmlDeviceGetPowerManagementDefaultLimit", h),
            "power_limit_min_mw": constraints[0],
            "power_limit_max_mw": constraints[1],
            "temp_shutdown_c": _threshold(lib, h, TEMPERATURE_THRESHOLD_SHUTDOWN),
            "temp_slowdown_c": _threshold(lib, h, TEMPERATURE_THRESHOLD_SLOWDOWN),
            "temp_gpu_max_c": _threshold(lib, h, TEMPERATURE_THRESHOLD_GPU_MAX),
            "temp_mem_max_c": _threshold(lib, h, TEMPERATURE_THRESHOLD_MEM_MAX),
            "mig_mode": mig_enabled(lib, h),
        }
    )


def _threshold(lib: NvmlLib, handle: Any, which: int) -> int | None:
    value = lib.query("nvmlDeviceGetTemperatureThreshold", handle, which)
    # 0 is what some drivers return for a threshold they do not track
    if value is None or not TEMP_MIN_C <= int(value) <= TEMP_MAX_C or int(value) == 0:
        return None
    return int(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text or None
