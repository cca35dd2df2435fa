"""The double keeps nvidia-ml-py's contract: names, constants, signatures, errors, structures.

The real `pynvml` module imports fine without a driver (it loads libnvidia-ml only in
nvmlInit), so these tests compare the double with it directly.
"""

from __future__ import annotations

import ctypes
import inspect
from collections.abc import Iterator

import pynvml
import pytest

import collectors.nvml.double as nvml
from collectors.nvml import double_abi as abi
from collectors.nvml import lib
from collectors.nvml.fields import READS, CallRead, FieldRead
from gpufleet.contract.columns import GPM_COLUMNS, GPM_METRICS, METRIC_NAMES


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    nvml.reset()
    yield
    nvml.reset()


def public(module: object, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in dir(module) if n.startswith(prefixes))


def test_constants_have_the_real_values() -> None:
    names = public(nvml, ("NVML_", "nvmlEventType", "nvmlClocksEventReason"))
    assert len(names) > 60
    for name in names:
        real = getattr(pynvml, name)
        mine = getattr(nvml, name)
        if hasattr(real, "value"):  # the ctypes "not available" sentinels
            assert mine.value == real.value, name
        else:
            assert mine == real, name


def test_functions_exist_in_pynvml_with_the_same_parameters() -> None:
    functions = [f for f in public(nvml, ("nvml",)) if inspect.isfunction(getattr(nvml, f))]
    assert "nvmlDeviceGetFieldValues" in functions and "nvmlEventSetWait" in functions
    for name in functions:
        real = inspect.signature(getattr(pynvml, name))
        mine = inspect.signature(getattr(nvml, name))
        assert list(mine.parameters) == list(real.parameters), name


def test_every_function_the_collector_calls_exists_in_both() -> None:
    called = {r.function for r in READS if isinstance(r, CallRead)}
    called |= {"nvmlDeviceGetFieldValues", "nvmlEventSetWait", "nvmlDeviceRegisterEvents", "nvmlEventSetCreate"}
    called |= {"nvmlDeviceGetMigMode", "nvmlDeviceGetTemperatureThreshold", "nvmlSystemGetCudaDriverVersion"}
    called |= {  # GPM per MIG GPU instance (collectors.nvml.mig)
        "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetGpuInstanceId",
        "nvmlDeviceGetAttributes", "nvmlDeviceGetGpuInstanceById", "nvmlGpuInstanceGetInfo",
        "nvmlDeviceGetGpuInstanceProfileInfoById", "nvmlGpmMigSampleGet",
    }  # fmt: skip
    for name in called:
        assert callable(getattr(pynvml, name)), name
        assert callable(getattr(nvml, name)), name


def test_errors_map_to_the_same_subclasses() -> None:
    for code, real_cls in pynvml.NVMLError._valClassMapping.items():
        if code in abi.NVMLError._valClassMapping:
            mine = abi.NVMLError(code)
            assert type(mine).__name__ == real_cls.__name__
            assert isinstance(mine, abi.NVMLError) and mine.value == code
            assert str(mine) == pynvml.NVMLError._errcode_to_string.get(code, str(mine))
    assert isinstance(abi.NVMLError(lib.ERROR_NOT_SUPPORTED), abi.NVMLError_NotSupported)
    assert abi.nvmlExceptionClass(lib.ERROR_GPU_IS_LOST) is abi.NVMLError_GpuIsLost


def test_structures_have_the_real_fields() -> None:
    for name in (
        "c_nvmlFieldValue_t",
        "c_nvmlMemory_t",
        "c_nvmlMemory_v2_t",
        "c_nvmlUtilization_t",
        "nvmlPciInfo_t",
        "c_nvmlGpmMetric_t",
        "c_nvmlGpmMetricsGet_t",
        "c_nvmlGpmSupport_t",
        "c_metricInfo_t",
        "c_nvmlDeviceAttributes",
        "c_nvmlGpuInstancePlacement_t",
        "c_nvmlGpuInstanceInfo_t",
        "c_nvmlGpuInstanceProfileInfo_v2_t",
    ):
        real = [f[0] for f in getattr(pynvml, name)._fields_]
        assert [f[0] for f in getattr(nvml, name)._fields_] == real, name
    assert [f[0] for f in abi.c_nvmlEventData_t._fields_] == [f[0] for f in pynvml.c_nvmlEventData_t._fields_]
    assert [f[0] for f in abi.c_nvmlValue_t._fields_] == [f[0] for f in pynvml.c_nvmlValue_t._fields_]


def test_field_values_answer_per_field() -> None:
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    nvml.set_unsupported(0, 82)
    values = nvml.nvmlDeviceGetFieldValues(handle, [185, 82, (138, 0xFFFFFFFF), 9999])
    assert [v.fieldId for v in values] == [185, 82, 138, 9999]
    assert [v.nvmlReturn for v in values] == [0, 3, 0, 3]
    assert values[0].valueType == abi.NVML_VALUE_TYPE_UNSIGNED_INT and values[0].value.uiVal > 0
    assert values[2].scopeId == 0xFFFFFFFF and values[2].valueType == abi.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
    nvml.nvmlShutdown()


def test_calls_before_init_raise_uninitialized() -> None:
    with pytest.raises(abi.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()


def test_event_wait_times_out_like_nvml() -> None:
    nvml.nvmlInit()
    event_set = nvml.nvmlEventSetCreate()
    with pytest.raises(abi.NVMLError_Timeout):
        nvml.nvmlEventSetWait(event_set, 1)
    nvml.nvmlEventSetFree(event_set)
    nvml.nvmlShutdown()


def test_failed_init_names_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUFLEET_NVML_DOUBLE_FAIL_INIT", "DRIVER_NOT_LOADED")
    nvml.reset_to_env()
    with pytest.raises(abi.NVMLError_DriverNotLoaded):
        nvml.nvmlInit()


def test_field_table_covers_every_column_with_real_ids() -> None:
    covered = {c for r in READS for c in r.columns}
    assert covered == set(METRIC_NAMES) - set(GPM_COLUMNS)  # GPM columns come from collectors.nvml.gpm
    real_ids = {v for k, v in vars(pynvml).items() if k.startswith("NVML_FI_DEV_")}
    for read in READS:
        if isinstance(read, FieldRead):
            assert set(read.field_ids) <= real_ids, read.key


def test_outcomes_follow_the_tolerance_rules() -> None:
    assert lib.outcome_of(lib.ERROR_NOT_SUPPORTED) is lib.Outcome.UNSUPPORTED
    assert lib.outcome_of(lib.ERROR_FUNCTION_NOT_FOUND) is lib.Outcome.UNSUPPORTED
    assert lib.outcome_of(lib.ERROR_GPU_IS_LOST) is lib.Outcome.LOST
    assert lib.outcome_of(lib.ERROR_UNINITIALIZED) is lib.Outcome.REINIT
    for code in (lib.ERROR_NO_PERMISSION, lib.ERROR_TIMEOUT, lib.ERROR_UNKNOWN):
        assert lib.outcome_of(code) is lib.Outcome.TRANSIENT


def test_gpm_metric_ids_and_recovery_constants_are_the_real_ones() -> None:
    real_gpm = {v: k for k, v in vars(pynvml).items() if k.startswith("NVML_GPM_METRIC_")}
    for metric_id, column in GPM_METRICS.items():
        assert metric_id in real_gpm, column
    assert nvml.nvmlEventTypeGpuRecoveryAction == pynvml.nvmlEventTypeGpuRecoveryAction == 0x8000
    assert pynvml.nvmlEventTypeAll & nvml.nvmlEventTypeGpuRecoveryAction
    assert abi.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION == pynvml.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION == 230
    # the ctypes layout the collector fills in place: same size, same offsets
    assert ctypes.sizeof(nvml.c_nvmlGpmMetricsGet_t) == ctypes.sizeof(pynvml.c_nvmlGpmMetricsGet_t)
    for name, *_ in pynvml.c_nvmlGpmMetricsGet_t._fields_:
        assert getattr(nvml.c_nvmlGpmMetricsGet_t, name).offset == getattr(pynvml.c_nvmlGpmMetricsGet_t, name).offset


def test_gpm_metrics_between_two_samples_are_the_later_ticks_values() -> None:
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(2)
    assert nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice == 1
    first, second = nvml.nvmlGpmSampleAlloc(), nvml.nvmlGpmSampleAlloc()
    nvml.nvmlGpmSampleGet(handle, first)
    frame = nvml.advance()
    nvml.nvmlGpmSampleGet(handle, second)
    request = nvml.c_nvmlGpmMetricsGet_t()
    request.version, request.numMetrics = nvml.NVML_GPM_METRICS_GET_VERSION, 2
    request.sample1, request.sample2 = first, second
    request.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_UTIL
    request.metrics[1].metricId = 4  # INTEGER_UTIL: not modelled, so not supported
    nvml.nvmlGpmMetricsGet(request)
    row = int(frame.gpu_index.tolist().index(2))
    assert request.metrics[0].nvmlReturn == 0
    assert request.metrics[0].value == float(frame.metrics["sm_active_pct"][row])
    assert request.metrics[1].nvmlReturn == abi.NVML_ERROR_NOT_SUPPORTED
    nvml.set_unsupported(2, "nvmlGpmQueryDeviceSupport")
    assert nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice == 0
    nvml.nvmlGpmSampleFree(first)
    nvml.nvmlGpmSampleFree(second)
    nvml.nvmlShutdown()


def test_mig_gpu_instances_and_their_gpm_samples() -> None:
    nvml.reset(mig=[1])
    nvml.nvmlInit()
    plain, mig = nvml.nvmlDeviceGetHandleByIndex(0), nvml.nvmlDeviceGetHandleByIndex(1)
    assert nvml.nvmlDeviceGetMigMode(mig) == [1, 1] and nvml.nvmlDeviceGetMigMode(plain) == [0, 0]
    with pytest.raises(abi.NVMLError_NotFound):
        nvml.nvmlDeviceGetMigDeviceHandleByIndex(plain, 0)
    handles = [nvml.nvmlDeviceGetMigDeviceHandleByIndex(mig, i) for i in range(2)]
    with pytest.raises(abi.NVMLError_NotFound):
        nvml.nvmlDeviceGetMigDeviceHandleByIndex(mig, 2)
    assert [nvml.nvmlDeviceGetGpuInstanceId(h) for h in handles] == [1, 2]
    assert nvml.nvmlDeviceIsMigDeviceHandle(handles[0]).value == 1 and nvml.nvmlDeviceIsMigDeviceHandle(mig).value == 0
    assert nvml.nvmlDeviceGetAttributes(handles[1]).gpuInstanceSliceCount == 3
    info = nvml.nvmlGpuInstanceGetInfo(nvml.nvmlDeviceGetGpuInstanceById(mig, 2))
    assert (info.id, info.profileId) == (2, nvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE)
    # the name comes back decoded, as pynvml's _PrintableStructure does
    assert nvml.nvmlDeviceGetGpuInstanceProfileInfoById(mig, info.profileId).name == "MIG 3g.40gb"
    samples = [nvml.nvmlGpmSampleAlloc() for _ in range(4)]
    nvml.nvmlGpmMigSampleGet(mig, 2, samples[0])
    nvml.nvmlGpmSampleGet(mig, samples[2])
    frame = nvml.advance()
    nvml.nvmlGpmMigSampleGet(mig, 2, samples[1])
    request = nvml.c_nvmlGpmMetricsGet_t()
    request.version, request.numMetrics = nvml.NVML_GPM_METRICS_GET_VERSION, 1
    request.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_UTIL
    request.sample1, request.sample2 = samples[0], samples[1]
    nvml.nvmlGpmMetricsGet(request)
    gpu = float(frame.metrics["sm_active_pct"][frame.gpu_index.tolist().index(1)])
    assert request.metrics[0].nvmlReturn == 0 and request.metrics[0].value == gpu * 0.5
    request.sample1 = samples[2]  # a GPU sample with an instance sample: not one source
    with pytest.raises(abi.NVMLError_InvalidArgument):
        nvml.nvmlGpmMetricsGet(request)
    with pytest.raises(abi.NVMLError_NotFound):
        nvml.nvmlGpmMigSampleGet(mig, 5, samples[3])
    nvml.nvmlShutdown()


def test_processes_have_pynvmls_shape() -> None:
    nvml.nvmlInit()
    frame = nvml.advance()
    for gpu in range(8):
        procs = nvml.nvmlDeviceGetComputeRunningProcesses_v3(nvml.nvmlDeviceGetHandleByIndex(gpu))
        used = int(frame.metrics["mem_used_mib"][frame.gpu_index.tolist().index(gpu)])
        if used > 512:
            [proc] = procs
            assert proc.usedGpuMemory == used * (1 << 20) and proc.gpuInstanceId == 0xFFFFFFFF
        else:
            assert procs == []
    nvml.nvmlShutdown()
