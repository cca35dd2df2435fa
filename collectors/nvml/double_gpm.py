"""GPM, recovery-action and process calls of the NVML double (see `collectors.nvml.double`).

Shapes as nvidia-ml-py 13.615: `nvmlGpmSampleAlloc()` returns a `c_nvmlGpmSample_t`
(a ctypes pointer to an opaque struct), `nvmlGpmSampleGet(device, sample)` fills it,
`nvmlGpmMetricsGet(metricsGet)` takes a `c_nvmlGpmMetricsGet_t` with `version`,
`numMetrics`, `sample1`, `sample2` and `metrics[i].metricId`, and writes each metric's
`nvmlReturn` and `value` (a double). A sample keeps the fleet tick it was taken at; a
metric between two samples is the later tick's value (the fleet's figures are already
averages over one interval), so a test can compare the collector's columns with the
fleet's. `nvmlDeviceGetComputeRunningProcesses_v3` returns pynvml's friendly objects
(`pid`, `usedGpuMemory` in bytes, `gpuInstanceId`, `computeInstanceId`).

Test keys for `set_unsupported`: `"nvmlGpmQueryDeviceSupport"` (the device says it has no
GPM), `"gpm:<metric id>"` (one metric answers NOT_SUPPORTED), and the function names.
"""

# ruff: noqa: N801, N802, N803, N816, RUF012 - pynvml's names and ctypes _fields_, kept so the double is a drop-in

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_uint
from types import SimpleNamespace
from typing import Any

from collectors.nvml.double_abi import (
    NVML_ERROR_INVALID_ARGUMENT,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_SUCCESS,
    NVMLError,
    _PrintableStructure,
)
from collectors.nvml.double_mig import instance_of
from collectors.nvml.double_state import MIB, MIG_LAYOUT, state
from gpufleet.contract.columns import GPM_METRICS

NVML_GPM_METRIC_GRAPHICS_UTIL = 1
NVML_GPM_METRIC_SM_UTIL = 2
NVML_GPM_METRIC_SM_OCCUPANCY = 3
NVML_GPM_METRIC_ANY_TENSOR_UTIL = 5
NVML_GPM_METRIC_HMMA_TENSOR_UTIL = 7
NVML_GPM_METRIC_DRAM_BW_UTIL = 10
NVML_GPM_METRIC_FP64_UTIL = 11
NVML_GPM_METRIC_FP32_UTIL = 12
NVML_GPM_METRIC_FP16_UTIL = 13
NVML_GPM_METRIC_PCIE_TX_PER_SEC = 20
NVML_GPM_METRIC_PCIE_RX_PER_SEC = 21
NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC = 60
NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC = 61
NVML_GPM_METRIC_MAX = 477
NVML_GPM_METRICS_GET_VERSION = 1
NVML_GPM_SUPPORT_VERSION = 1
NVML_GPU_RECOVERY_ACTION_NONE = 0
NVML_GPU_RECOVERY_ACTION_GPU_RESET = 1
NVML_GPU_RECOVERY_ACTION_NODE_REBOOT = 2
NVML_GPU_RECOVERY_ACTION_DRAIN_P2P = 3
NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET = 4
nvmlEventTypeGpuRecoveryAction = 0x8000


class struct_c_nvmlGpmSample_t(Structure):
    # opaque in NVML; the double numbers its samples
    _fields_ = [("_id", c_uint)]


c_nvmlGpmSample_t = POINTER(struct_c_nvmlGpmSample_t)


class c_metricInfo_t(Structure):
    _fields_ = [("shortName", c_char_p), ("longName", c_char_p), ("unit", c_char_p)]


class c_nvmlGpmMetric_t(_PrintableStructure):
    _fields_ = [("metricId", c_uint), ("nvmlReturn", c_uint), ("value", c_double), ("metricInfo", c_metricInfo_t)]


class c_nvmlGpmMetricsGet_t(_PrintableStructure):
    _fields_ = [
        ("version", c_uint),
        ("numMetrics", c_uint),
        ("sample1", c_nvmlGpmSample_t),
        ("sample2", c_nvmlGpmSample_t),
        ("metrics", c_nvmlGpmMetric_t * NVML_GPM_METRIC_MAX),
    ]


class c_nvmlGpmSupport_t(_PrintableStructure):
    _fields_ = [("version", c_uint), ("isSupportedDevice", c_uint)]


# sample address -> ((device index, MIG GPU instance id or None), the values when the sample
# was taken), or None (allocated, not filled)
_SAMPLES: dict[int, tuple[tuple[int, int | None], dict[str, float]] | None] = {}


def nvmlGpmQueryDeviceSupport(device: Any) -> Any:
    st = state()
    support = c_nvmlGpmSupport_t()
    support.version = NVML_GPM_SUPPORT_VERSION
    with st.lock:
        dev = st.device(device, "nvmlGpmQueryDeviceSupportCall")
        support.isSupportedDevice = 0 if st.code_for(dev, "nvmlGpmQueryDeviceSupport") else 1
    return support


def nvmlGpmSampleAlloc() -> Any:
    state().check_init()
    struct = struct_c_nvmlGpmSample_t(len(_SAMPLES))
    sample = ctypes.pointer(struct)
    _SAMPLES[ctypes.addressof(struct)] = None
    return sample


def nvmlGpmSampleFree(gpmSample: Any) -> None:
    state().check_init()
    if _SAMPLES.pop(ctypes.addressof(gpmSample.contents), 0) == 0:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)


def nvmlGpmSampleGet(device: Any, gpmSample: Any) -> Any:
    st = state()
    with st.lock:
        dev = st.device(device, "nvmlGpmSampleGet")
        addr = ctypes.addressof(gpmSample.contents)
        if addr not in _SAMPLES:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        _SAMPLES[addr] = ((dev.index, None), {k: float(v) for k, v in dev.values.items()})
    return gpmSample


def nvmlGpmMigSampleGet(device: Any, gpuInstanceId: int, gpmSample: Any) -> Any:
    """A sample of one MIG GPU instance: the device's GPM figures times the instance's share.
    `fail_next(gpu, f"nvmlGpmMigSampleGet:{gi}", code)` fails one instance only."""
    st = state()
    with st.lock:
        dev = st.device(device, "nvmlGpmMigSampleGet")
        inst = instance_of(dev, int(gpuInstanceId))
        code = st.code_for(dev, f"nvmlGpmMigSampleGet:{inst.gpu_instance_id}")
        if code:
            raise NVMLError(code)
        addr = ctypes.addressof(gpmSample.contents)
        if addr not in _SAMPLES:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        values = {c: dev.values[c] * inst.share for c in GPM_METRICS.values() if c in dev.values}
        _SAMPLES[addr] = ((dev.index, inst.gpu_instance_id), values)
    return gpmSample


def instance_value(value: int, gpu_instance_id: int) -> int:
    """What the collector reads for instance `gpu_instance_id` where the GPU reads `value`."""
    share = {gi: share for gi, _, _, share in MIG_LAYOUT}[gpu_instance_id]
    return round(value * share)


def nvmlGpmMetricsGet(metricsGet: Any) -> Any:
    st = state()
    with st.lock:
        st.check_init()
        first = _SAMPLES.get(ctypes.addressof(metricsGet.sample1.contents))
        second = _SAMPLES.get(ctypes.addressof(metricsGet.sample2.contents))
        if metricsGet.version != NVML_GPM_METRICS_GET_VERSION or first is None or second is None or first[0] != second[0]:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        dev = st.devices[second[0][0]]
        for i in range(int(metricsGet.numMetrics)):
            metric = metricsGet.metrics[i]
            column = GPM_METRICS.get(int(metric.metricId))
            code = st.code_for(dev, f"gpm:{int(metric.metricId)}")
            if code or column is None:
                metric.nvmlReturn = code or NVML_ERROR_NOT_SUPPORTED
                continue
            metric.nvmlReturn = NVML_SUCCESS
            metric.value = float(second[1][column])
    return metricsGet


def nvmlDeviceGetComputeRunningProcesses_v3(handle: Any) -> list[Any]:
    """The GPU's job as one process (pid from the job, 90 % of memory), none when idle."""
    st = state()
    with st.lock:
        dev = st.device(handle, "nvmlDeviceGetComputeRunningProcesses_v3")
        if dev.values.get("mem_used_mib", 0) <= 512:  # the fleet's idle GPUs hold 512 MiB
            return []
        pid = 10_000 + 97 * dev.index
        mig = 0 if dev.mig else 0xFFFFFFFF
        used = dev.values["mem_used_mib"] * MIB
        return [SimpleNamespace(pid=pid, usedGpuMemory=used, gpuInstanceId=mig, computeInstanceId=mig)]
