"""The `nvml*` functions of the NVML double (see `collectors.nvml.double`).

Each device function goes through `DoubleState.device(handle, key)`, which applies the
failures a test asked for (unsupported, injected codes, lost GPU, stale handle after a
driver reload) and counts the call, then answers from the fleet's current tick.
"""

# ruff: noqa: N802, N803 - pynvml's names, kept so the double is a drop-in

from __future__ import annotations

import ctypes
import time
from typing import Any

from collectors.nvml.double_abi import (
    NVML_CLOCK_MEM,
    NVML_CLOCK_VIDEO,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_INVALID_ARGUMENT,
    NVML_ERROR_NOT_FOUND,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_TIMEOUT,
    NVML_ERROR_UNINITIALIZED,
    NVML_MEMORY_ERROR_TYPE_CORRECTED,
    NVML_PCIE_UTIL_TX_BYTES,
    NVML_TEMPERATURE_THRESHOLD_GPU_MAX,
    NVML_TEMPERATURE_THRESHOLD_MEM_MAX,
    NVML_TEMPERATURE_THRESHOLD_SHUTDOWN,
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN,
    NVMLError,
    c_nvmlEventData_t,
    c_nvmlFieldValue_t,
    c_nvmlMemory_t,
    c_nvmlMemory_v2_t,
    c_nvmlUtilization_t,
    nvmlPciInfo_t,
    struct_c_nvmlEventSet_t,
)
from collectors.nvml.double_state import ALL_LINKS, EVENT_TYPES, FIELDS, MIB, NVLINKS, _EventSet, state
from collectors.synthetic.fleet import CUDA_VERSION, DRIVER_VERSION

MAX_SM_CLOCK_MHZ = 1980
VIDEO_CLOCK_MHZ = 1755
THRESHOLD_KEYS = {
    NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: "temp_shutdown_c",
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: "temp_slowdown_c",
    NVML_TEMPERATURE_THRESHOLD_MEM_MAX: "temp_mem_max_c",
    NVML_TEMPERATURE_THRESHOLD_GPU_MAX: "temp_gpu_max_c",
}


# ---- init and system -----------------------------------------------------------------
def nvmlInitWithFlags(flags: int) -> None:
    st = state()
    with st.lock:
        if st.init_error is not None:
            raise NVMLError(st.init_error)
        st.refcount += 1


def nvmlInit() -> None:
    nvmlInitWithFlags(0)


def nvmlShutdown() -> None:
    st = state()
    with st.lock:
        st.check_init()
        st.refcount -= 1


def nvmlSystemGetDriverVersion() -> str:
    state().check_init()
    return DRIVER_VERSION


def nvmlSystemGetCudaDriverVersion() -> int:
    state().check_init()
    major, minor = CUDA_VERSION.split(".")
    return int(major) * 1000 + int(minor) * 10


def nvmlSystemGetNVMLVersion() -> str:
    state().check_init()
    return f"12.{DRIVER_VERSION}"


# ---- enumeration and identity --------------------------------------------------------
def nvmlDeviceGetCount() -> int:
    st = state()
    st.check_init()
    return len(st.devices)


def nvmlDeviceGetHandleByIndex(index: int) -> Any:
    st = state()
    with st.lock:
        st.check_init()
        if not 0 <= index < len(st.devices):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        dev = st.devices[index]
        if dev.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return dev.handle


def nvmlDeviceGetHandleByUUID(uuid: str) -> Any:
    st = state()
    with st.lock:
        st.check_init()
        for dev in st.devices:
            if dev.uuid == uuid:
                return dev.handle
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def _dev(handle: Any, key: str) -> Any:
    st = state()
    with st.lock:
        return st.device(handle, key)


def nvmlDeviceGetIndex(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetIndex").index)


def nvmlDeviceGetUUID(handle: Any) -> str:
    return str(_dev(handle, "nvmlDeviceGetUUID").uuid)


def nvmlDeviceGetSerial(handle: Any) -> str:
    return str(_dev(handle, "nvmlDeviceGetSerial").inventory["serial"])


def nvmlDeviceGetName(handle: Any) -> str:
    return str(_dev(handle, "nvmlDeviceGetName").inventory["model"])


def nvmlDeviceGetVbiosVersion(handle: Any) -> str:
    return str(_dev(handle, "nvmlDeviceGetVbiosVersion").inventory["vbios_version"])


def nvmlDeviceGetPciInfo(handle: Any) -> Any:
    dev = _dev(handle, "nvmlDeviceGetPciInfo")
    info = nvmlPciInfo_t()
    bus_id = str(dev.inventory["pci_bus_id"])
    info.busId = bus_id.encode()
    info.busIdLegacy = bus_id[4:].encode()
    info.bus = int(bus_id.split(":")[1], 16)
    info.pciDeviceId = 0x233010DE
    return info


def nvmlDeviceGetMigMode(device: Any) -> list[int]:
    mode = int(_dev(device, "nvmlDeviceGetMigMode").mig)
    return [mode, mode]


# ---- limits and thresholds -----------------------------------------------------------
def nvmlDeviceGetPowerManagementDefaultLimit(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetPowerManagementDefaultLimit").inventory["power_limit_default_mw"])


def nvmlDeviceGetPowerManagementLimitConstraints(handle: Any) -> list[int]:
    inv = _dev(handle, "nvmlDeviceGetPowerManagementLimitConstraints").inventory
    return [int(inv["power_limit_min_mw"]), int(inv["power_limit_max_mw"])]


def nvmlDeviceGetPowerManagementLimit(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetPowerManagementLimit").values["power_limit_mw"])


def nvmlDeviceGetEnforcedPowerLimit(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetEnforcedPowerLimit").values["power_limit_mw"])


def nvmlDeviceGetTemperatureThreshold(handle: Any, threshold: int) -> int:
    dev = _dev(handle, "nvmlDeviceGetTemperatureThreshold")
    key = THRESHOLD_KEYS.get(threshold)
    if key is None or dev.inventory.get(key) is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return int(dev.inventory[key])


# ---- per-tick readings ---------------------------------------------------------------
def nvmlDeviceGetFieldValues(handle: Any, fieldIds: list[int | tuple[int, int]]) -> Any:
    st = state()
    with st.lock:
        dev = st.device(handle, "nvmlDeviceGetFieldValues")
        values = (c_nvmlFieldValue_t * len(fieldIds))()
        ts_us = int(st.fleet.now_ms) * 1000
        for i, requested in enumerate(fieldIds):
            fid, scope = requested if isinstance(requested, tuple) else (requested, 0)
            fv = values[i]
            fv.fieldId = fid
            fv.scopeId = scope
            fv.timestamp = ts_us
            st.calls[(dev.index, fid)] += 1
            code = st.code_for(dev, fid)
            spec = FIELDS.get(fid)
            if code or spec is None:
                fv.nvmlReturn = code or NVML_ERROR_NOT_SUPPORTED
                continue
            value_type, column = spec
            value = 0 if column is None else dev.values[column]
            if fid in (138, 139) and scope != ALL_LINKS:
                value //= NVLINKS
            fv.valueType = value_type
            setattr(fv.value, "ullVal" if value_type == 3 else "uiVal", value)
        return values


def nvmlDeviceGetPowerUsage(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetPowerUsage").values["power_mw"])


def nvmlDeviceGetTotalEnergyConsumption(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetTotalEnergyConsumption").values["energy_mj"])


def nvmlDeviceGetTemperature(handle: Any, sensor: int) -> int:
    return int(_dev(handle, "nvmlDeviceGetTemperature").values["gpu_temp_c"])


def nvmlDeviceGetUtilizationRates(handle: Any) -> Any:
    v = _dev(handle, "nvmlDeviceGetUtilizationRates").values
    return c_nvmlUtilization_t(v["util_gpu_pct"], v["util_mem_pct"])


def nvmlDeviceGetMemoryInfo(handle: Any, version: int | None = None) -> Any:
    v = _dev(handle, "nvmlDeviceGetMemoryInfo").values
    total, used = v["mem_total_mib"] * MIB, v["mem_used_mib"] * MIB
    if not version:
        return c_nvmlMemory_t(total, total - used, used)
    return c_nvmlMemory_v2_t(version, total, 0, total - used, used)


def nvmlDeviceGetClockInfo(handle: Any, type: int) -> int:
    v = _dev(handle, "nvmlDeviceGetClockInfo").values
    if type == NVML_CLOCK_MEM:
        return int(v["mem_clock_mhz"])
    return VIDEO_CLOCK_MHZ if type == NVML_CLOCK_VIDEO else int(v["sm_clock_mhz"])


def nvmlDeviceGetMaxClockInfo(handle: Any, type: int) -> int:
    v = _dev(handle, "nvmlDeviceGetMaxClockInfo").values
    return int(v["mem_clock_mhz"]) if type == NVML_CLOCK_MEM else MAX_SM_CLOCK_MHZ


def nvmlDeviceGetCurrentClocksEventReasons(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetCurrentClocksEventReasons").values["clocks_event_reasons"])


def nvmlDeviceGetPerformanceState(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetPerformanceState").values["pstate"])


def nvmlDeviceGetTotalEccErrors(handle: Any, errorType: int, counterType: int) -> int:
    v = _dev(handle, "nvmlDeviceGetTotalEccErrors").values
    corrected = errorType == NVML_MEMORY_ERROR_TYPE_CORRECTED
    return int(v["ecc_corrected_count"] if corrected else v["ecc_uncorrected_count"])


def nvmlDeviceGetRemappedRows(device: Any) -> tuple[int, int, int, int]:
    v = _dev(device, "nvmlDeviceGetRemappedRows").values
    return (
        v["remapped_rows_correctable"],
        v["remapped_rows_uncorrectable"],
        int(v["remap_pending"]),
        int(v["remap_failure"]),
    )


def nvmlDeviceGetPcieThroughput(device: Any, counter: int) -> int:
    v = _dev(device, "nvmlDeviceGetPcieThroughput").values
    return int(v["pcie_tx_kbps"] if counter == NVML_PCIE_UTIL_TX_BYTES else v["pcie_rx_kbps"])


def nvmlDeviceGetPcieReplayCounter(handle: Any) -> int:
    return int(_dev(handle, "nvmlDeviceGetPcieReplayCounter").values["pcie_replay_count"])


def nvmlDeviceGetFanSpeed(handle: Any) -> int:
    _dev(handle, "nvmlDeviceGetFanSpeed")
    raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # H100/H200 SXM: "Fan Speed: N/A"


# ---- events --------------------------------------------------------------------------
def nvmlEventSetCreate() -> Any:
    st = state()
    with st.lock:
        st.check_init()
        struct = struct_c_nvmlEventSet_t(len(st.event_sets))
        handle = ctypes.pointer(struct)
        st.event_sets[ctypes.addressof(struct)] = _EventSet(struct, handle, st.generation)
        return handle


def nvmlDeviceGetSupportedEventTypes(handle: Any) -> int:
    _dev(handle, "nvmlDeviceGetSupportedEventTypes")
    return EVENT_TYPES


def nvmlDeviceRegisterEvents(handle: Any, eventTypes: int, eventSet: Any) -> None:
    st = state()
    with st.cond:
        dev = st.device(handle, "nvmlDeviceRegisterEvents")
        es = st.event_set(eventSet)
        es.devices[dev.index] = es.devices.get(dev.index, 0) | (eventTypes & EVENT_TYPES)
        for pending in [p for p in st.pending_events if p[0] == dev.index and p[1] & eventTypes]:
            st.pending_events.remove(pending)
            es.queue.append(pending)
        st.cond.notify_all()


def nvmlEventSetWait_v2(eventSet: Any, timeoutms: int) -> Any:
    st = state()
    deadline = time.monotonic() + timeoutms / 1000.0
    with st.cond:
        st.check_init()
        es: _EventSet = st.event_set(eventSet)
        while not es.queue:
            if st.generation != es.generation or st.refcount <= 0:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NVMLError(NVML_ERROR_TIMEOUT)
            st.cond.wait(remaining)
        gpu, event_type, event_data = es.queue.popleft()
        data = c_nvmlEventData_t()
        data.device = st.devices[gpu].handle
        data.eventType = event_type
        data.eventData = event_data
        data.gpuInstanceId = 0xFFFFFFFF
        data.computeInstanceId = 0xFFFFFFFF
        return data


def nvmlEventSetWait(eventSet: Any, timeoutms: int) -> Any:
    return nvmlEventSetWait_v2(eventSet, timeoutms)


def nvmlEventSetFree(eventSet: Any) -> None:
    st = state()
    with st.cond:
        st.check_init()
        st.event_sets.pop(ctypes.addressof(eventSet.contents), None)
        st.cond.notify_all()
