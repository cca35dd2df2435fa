"""MIG calls of the NVML double (see `collectors.nvml.double`): GPU instances and their handles.

Shapes as nvidia-ml-py 13.615. A double GPU in MIG mode (`GPUFLEET_NVML_DOUBLE_MIG`)
holds the GPU instances of `double_state.MIG_LAYOUT`, each with one compute instance
covering it, so MIG device index i is GPU instance i + 1.
`nvmlDeviceGetMigDeviceHandleByIndex(device, index)` returns that MIG device's handle
(NOT_FOUND past the last one), `nvmlDeviceGetGpuInstanceId` and `nvmlDeviceGetAttributes`
answer for it, and `nvmlDeviceGetGpuInstanceById` -> `nvmlGpuInstanceGetInfo` ->
`nvmlDeviceGetGpuInstanceProfileInfoById` name its profile ("MIG 4g.40gb" on an 80 GB GPU).
The MIG device handles answer nothing else (the collector asks the parent).

Test keys: a MIG call's function name fails or is unsupported on the parent GPU index
(`fail_next(gpu, "nvmlDeviceGetGpuInstanceId", code)`).
"""

# ruff: noqa: N801, N802, N803, N816, RUF012 - pynvml's names and ctypes _fields_, kept so the double is a drop-in

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char, c_uint, c_ulonglong
from typing import Any

from collectors.nvml.double_abi import (
    NVML_ERROR_INVALID_ARGUMENT,
    NVML_ERROR_NOT_FOUND,
    NVMLError,
    _PrintableStructure,
    c_nvmlDevice_t,
)
from collectors.nvml.double_state import _Device, _Instance, state

NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96
NVML_GPU_INSTANCE_PROFILE_3_SLICE = 0x2
NVML_GPU_INSTANCE_PROFILE_4_SLICE = 0x3
NVML_GPU_INSTANCE_PROFILE_7_SLICE = 0x4
MAX_MIG_DEVICES = 7  # MIG devices per GPU on H100/H200 (7 slices)
nvmlGpuInstanceProfileInfo_v2 = 0x02000098


class c_nvmlDeviceAttributes(Structure):
    _fields_ = [
        ("multiprocessorCount", c_uint),
        ("sharedCopyEngineCount", c_uint),
        ("sharedDecoderCount", c_uint),
        ("sharedEncoderCount", c_uint),
        ("sharedJpegCount", c_uint),
        ("sharedOfaCount", c_uint),
        ("gpuInstanceSliceCount", c_uint),
        ("computeInstanceSliceCount", c_uint),
        ("memorySizeMB", c_ulonglong),
    ]


class c_nvmlGpuInstancePlacement_t(Structure):
    _fields_ = [("start", c_uint), ("size", c_uint)]


class c_nvmlGpuInstanceInfo_t(Structure):
    _fields_ = [("device", c_nvmlDevice_t), ("id", c_uint), ("profileId", c_uint), ("placement", c_nvmlGpuInstancePlacement_t)]


class struct_c_nvmlGpuInstance_t(Structure):
    # opaque in NVML; the double keeps the parent's index and the instance id
    _fields_ = [("_index", c_uint), ("_id", c_uint)]


c_nvmlGpuInstance_t = POINTER(struct_c_nvmlGpuInstance_t)


class c_nvmlGpuInstanceProfileInfo_v2_t(_PrintableStructure):
    _fields_ = [
        ("version", c_uint),
        ("id", c_uint),
        ("isP2pSupported", c_uint),
        ("sliceCount", c_uint),
        ("instanceCount", c_uint),
        ("multiprocessorCount", c_uint),
        ("copyEngineCount", c_uint),
        ("decoderCount", c_uint),
        ("encoderCount", c_uint),
        ("jpegCount", c_uint),
        ("ofaCount", c_uint),
        ("memorySizeMB", c_ulonglong),
        ("name", c_char * NVML_DEVICE_NAME_V2_BUFFER_SIZE),
    ]

    def __init__(self) -> None:
        super().__init__(version=nvmlGpuInstanceProfileInfo_v2)


SMS_PER_SLICE = 16  # H100 SXM: 132 SMs over 7 slices is 18; 16 keeps MIG's usable count
SLICES_OF_PROFILE = {
    NVML_GPU_INSTANCE_PROFILE_3_SLICE: 3,
    NVML_GPU_INSTANCE_PROFILE_4_SLICE: 4,
    NVML_GPU_INSTANCE_PROFILE_7_SLICE: 7,
}


def instance_of(dev: _Device, gpu_instance_id: int) -> _Instance:
    """GPU instance `gpu_instance_id` of `dev` (NOT_FOUND: no such instance; INVALID_ARGUMENT: no MIG)."""
    for inst in dev.instances:
        if inst.gpu_instance_id == gpu_instance_id:
            return inst
    raise NVMLError(NVML_ERROR_NOT_FOUND if dev.mig else NVML_ERROR_INVALID_ARGUMENT)


def nvmlDeviceGetMaxMigDeviceCount(device: Any) -> int:
    state().device(device, "nvmlDeviceGetMaxMigDeviceCount")
    return MAX_MIG_DEVICES


def nvmlDeviceGetMigDeviceHandleByIndex(device: Any, index: int) -> Any:
    st = state()
    with st.lock:
        dev = st.device(device, "nvmlDeviceGetMigDeviceHandleByIndex")
        if not 0 <= index < len(dev.instances):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return dev.instances[index].handle


def nvmlDeviceIsMigDeviceHandle(device: Any) -> Any:
    st = state()
    with st.lock:
        st.check_init()
        return c_uint(int(ctypes.addressof(device.contents) in st.mig_by_addr))


def nvmlDeviceGetGpuInstanceId(device: Any) -> int:
    st = state()
    with st.lock:
        _, inst = st.mig_device(device, "nvmlDeviceGetGpuInstanceId")
        return inst.gpu_instance_id


def nvmlDeviceGetAttributes_v2(device: Any) -> Any:
    st = state()
    with st.lock:
        dev, inst = st.mig_device(device, "nvmlDeviceGetAttributes")
        attrs = c_nvmlDeviceAttributes()
        attrs.multiprocessorCount = SMS_PER_SLICE * inst.slices
        attrs.gpuInstanceSliceCount = attrs.computeInstanceSliceCount = inst.slices
        attrs.memorySizeMB = _memory_mib(dev.inventory, inst.slices)
        return attrs


def nvmlDeviceGetAttributes(device: Any) -> Any:
    return nvmlDeviceGetAttributes_v2(device)


def nvmlDeviceGetGpuInstanceById(device: Any, gpuInstanceId: int) -> Any:
    st = state()
    with st.lock:
        dev = st.device(device, "nvmlDeviceGetGpuInstanceById")
        inst = instance_of(dev, gpuInstanceId)
        return ctypes.pointer(struct_c_nvmlGpuInstance_t(dev.index, inst.gpu_instance_id))


def nvmlGpuInstanceGetInfo(gpuInstance: Any) -> Any:
    st = state()
    with st.lock:
        st.check_init()
        index, gi = int(gpuInstance.contents._index), int(gpuInstance.contents._id)
        dev = st.device(st.devices[index].handle, "nvmlGpuInstanceGetInfo")
        inst = instance_of(dev, gi)
        info = c_nvmlGpuInstanceInfo_t()
        info.device, info.id, info.profileId = dev.handle, gi, inst.profile_id
        info.placement.start = 0 if gi == 1 else 4
        info.placement.size = inst.slices
        return info


def nvmlDeviceGetGpuInstanceProfileInfoById(device: Any, profileId: int) -> Any:
    st = state()
    with st.lock:
        dev = st.device(device, "nvmlDeviceGetGpuInstanceProfileInfoById")
        slices = SLICES_OF_PROFILE.get(profileId)
        if slices is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        info = c_nvmlGpuInstanceProfileInfo_v2_t()
        memory_mib = _memory_mib(dev.inventory, slices)
        info.id, info.sliceCount, info.instanceCount = profileId, slices, 7 // slices
        info.multiprocessorCount, info.memorySizeMB = SMS_PER_SLICE * slices, memory_mib
        info.name = f"MIG {slices}g.{memory_mib // 1000}gb".encode()
        return info


def _memory_mib(inventory: dict[str, Any], slices: int) -> int:
    # memory comes in eighths; a 3- or 4-slice instance gets half, 7 slices all of it
    total = int(inventory.get("mem_total_mib") or 80 * 1024)
    return total if slices == 7 else total // 2 if slices >= 3 else total // 8
