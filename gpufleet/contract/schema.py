"""Wire schema: the messages that cross from collectors to storage.

These pydantic models are the schema of record. `docs/schema/*.json` is exported from them
(`gpufleet schema export`) so that non-Python producers can conform. Every message carries
a `schema` id with its version; a consumer rejects versions it does not know.

Units are NVML's native integers and live in the field names. A metric the GPU does not
support is `None` (JSON null), never 0.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpufleet.contract.columns import PCT_MAX, POWER_LIMIT_FACTOR, TEMP_MAX_C, TEMP_MIN_C
from gpufleet.contract.jobs import JOB_ASSIGNMENT_SCHEMA, JobAssignment
from gpufleet.contract.sensors import SENSORS

# What producers write. Consumers also accept every earlier version listed below: a version
# adds optional fields (or event kinds) only, so an older message is a newer one with those
# fields null (docs/schema.md "Versions").
NODE_SAMPLE_SCHEMA: Final = "gpufleet.node_sample/2"
GPU_EVENT_SCHEMA: Final = "gpufleet.gpu_event/2"
GPU_INVENTORY_SCHEMA: Final = "gpufleet.gpu_inventory/1"
FACILITY_SAMPLE_SCHEMA: Final = "gpufleet.facility_sample/1"
GPU_PROCESSES_SCHEMA: Final = "gpufleet.gpu_processes/1"
GPU_INSTANCE_ACTIVITY_SCHEMA: Final = "gpufleet.gpu_instance_activity/1"
NodeSampleSchemaId = Literal["gpufleet.node_sample/1", "gpufleet.node_sample/2"]
GpuEventSchemaId = Literal["gpufleet.gpu_event/1", "gpufleet.gpu_event/2"]

U8 = Annotated[int, Field(ge=0, le=2**8 - 1)]
U16 = Annotated[int, Field(ge=0, le=2**16 - 1)]
U32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)]
TempC = Annotated[int, Field(ge=TEMP_MIN_C, le=TEMP_MAX_C)]
Pct = Annotated[int, Field(ge=0, le=PCT_MAX)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
TimestampMs = Annotated[int, Field(ge=0, le=2**63 - 1, description="Unix epoch milliseconds, UTC")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


class Topology(_Strict):
    """Where a node sits: cluster › hall › row (array) › rack › node."""

    cluster: Label
    hall: Label
    row: Label
    rack: Label
    node: Label


class GpuSample(_Strict):
    """One GPU at one tick. Field names match the ClickHouse columns (`gpufleet.contract.columns`)."""

    gpu_index: U8
    uuid: Label
    power_mw: U32 | None = Field(None, description="1 s average board power (NVML 185)")
    power_instant_mw: U32 | None = Field(None, description="instantaneous board power (NVML 186)")
    energy_mj: U64 | None = Field(None, description="energy since driver load (counter)")
    power_limit_mw: U32 | None = Field(None, description="enforced power limit")
    gpu_temp_c: TempC | None = None
    mem_temp_c: TempC | None = Field(None, description="HBM temperature")
    util_gpu_pct: Pct | None = None
    util_mem_pct: Pct | None = None
    mem_used_mib: U32 | None = None
    mem_total_mib: U32 | None = None
    sm_clock_mhz: U16 | None = None
    mem_clock_mhz: U16 | None = None
    clocks_event_reasons: U64 | None = Field(None, description="nvmlClocksEventReason bitmask, raw")
    pstate: U8 | None = None
    ecc_corrected_count: U64 | None = Field(None, description="volatile corrected ECC errors")
    ecc_uncorrected_count: U64 | None = Field(None, description="volatile uncorrected ECC errors")
    remapped_rows_correctable: U16 | None = None
    remapped_rows_uncorrectable: U16 | None = None
    remap_pending: bool | None = None
    remap_failure: bool | None = None
    pcie_tx_kbps: U32 | None = None
    pcie_rx_kbps: U32 | None = None
    pcie_replay_count: U64 | None = None
    nvlink_tx_kib: U64 | None = Field(None, description="NVLink data TX, all links (counter)")
    nvlink_rx_kib: U64 | None = Field(None, description="NVLink data RX, all links (counter)")
    nvlink_crc_errors: U64 | None = None
    nvlink_replay_errors: U64 | None = None
    nvlink_recovery_errors: U64 | None = None
    # v2: GPM activity (Hopper+; null where nvmlGpmQueryDeviceSupport says no) and the
    # driver's recovery action. Whole percent and MiB/s, rounded from NVML's doubles.
    sm_active_pct: Pct | None = Field(None, description="GPM SM_UTIL: share of SMs busy (DCGM_FI_PROF_SM_ACTIVE x 100)")
    sm_occupancy_pct: Pct | None = Field(None, description="GPM SM_OCCUPANCY: resident warps vs maximum")
    tensor_active_pct: Pct | None = Field(None, description="GPM ANY_TENSOR_UTIL (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE x 100)")
    hmma_active_pct: Pct | None = Field(None, description="GPM HMMA_TENSOR_UTIL (DCGM_FI_PROF_PIPE_TENSOR_HMMA_ACTIVE x 100)")
    dram_active_pct: Pct | None = Field(None, description="GPM DRAM_BW_UTIL (DCGM_FI_PROF_DRAM_ACTIVE x 100)")
    fp64_active_pct: Pct | None = Field(None, description="GPM FP64_UTIL (DCGM_FI_PROF_PIPE_FP64_ACTIVE x 100)")
    fp32_active_pct: Pct | None = Field(None, description="GPM FP32_UTIL (DCGM_FI_PROF_PIPE_FP32_ACTIVE x 100)")
    fp16_active_pct: Pct | None = Field(None, description="GPM FP16_UTIL (DCGM_FI_PROF_PIPE_FP16_ACTIVE x 100)")
    graphics_active_pct: Pct | None = Field(None, description="GPM GRAPHICS_UTIL (DCGM_FI_PROF_GR_ENGINE_ACTIVE x 100)")
    gpm_pcie_tx_mibps: U32 | None = Field(None, description="GPM PCIE_TX_PER_SEC, MiB/s")
    gpm_pcie_rx_mibps: U32 | None = Field(None, description="GPM PCIE_RX_PER_SEC, MiB/s")
    gpm_nvlink_tx_mibps: U32 | None = Field(None, description="GPM NVLINK_TOTAL_TX_PER_SEC, MiB/s")
    gpm_nvlink_rx_mibps: U32 | None = Field(None, description="GPM NVLINK_TOTAL_RX_PER_SEC, MiB/s")
    recovery_action: U8 | None = Field(
        None, description="NVML field 230, nvmlDeviceGpuRecoveryAction_t (0 NONE; names in gpufleet.contract.recovery)"
    )

    @model_validator(mode="after")
    def _power_within_limit(self) -> GpuSample:
        limit = self.power_limit_mw
        if self.power_mw is not None and limit and self.power_mw > POWER_LIMIT_FACTOR * limit:
            raise ValueError(
                f"power_mw={self.power_mw!r} is above {POWER_LIMIT_FACTOR}x "
                f"power_limit_mw={limit!r} on gpu_index {self.gpu_index}"
            )
        return self


class NodeSample(Topology):
    """All GPUs of one node at one tick: one Kafka message, keyed by node."""

    schema_: NodeSampleSchemaId = Field(NODE_SAMPLE_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    seq: U64 = Field(description="collector sequence number; gaps mean lost ticks")
    gpus: list[GpuSample] = Field(min_length=1, max_length=64, description="at least one GPU: an empty message is refused")

    @model_validator(mode="after")
    def _unique_gpu_index(self) -> NodeSample:
        seen: set[int] = set()
        for gpu in self.gpus:
            if gpu.gpu_index in seen:
                raise ValueError(f"duplicate gpu_index {gpu.gpu_index!r} in node {self.node!r}")
            seen.add(gpu.gpu_index)
        return self


EventKind = Literal["xid", "gpu_lost", "collector_start", "collector_stop", "recovery_action"]
Severity = Literal["info", "warning", "critical"]


class GpuEvent(Topology):
    """Something that happened once: an XID, a GPU lost, a recovery action changed, a collector
    starting or stopping."""

    schema_: GpuEventSchemaId = Field(GPU_EVENT_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    kind: EventKind
    gpu_index: U8 | None = None
    uuid: str | None = None
    xid: U16 | None = None
    severity: Severity = "info"
    detail: str = Field("", max_length=4096, description="meaning and recommended action")
    recovery_action: U8 | None = Field(None, description="v2: the new NVML recovery action (kind 'recovery_action')")

    @model_validator(mode="after")
    def _xid_needs_code(self) -> GpuEvent:
        if self.kind == "xid" and self.xid is None:
            raise ValueError("an event of kind 'xid' needs its xid code")
        if self.kind == "recovery_action" and self.recovery_action is None:
            raise ValueError("an event of kind 'recovery_action' needs its recovery_action code")
        return self


class GpuInventory(Topology):
    """What a GPU is; changes rarely (a compacted topic, one row per uuid in storage)."""

    schema_: Literal["gpufleet.gpu_inventory/1"] = Field(GPU_INVENTORY_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    gpu_index: U8
    uuid: Label
    serial: str | None = None
    model: str = Field(description="NVML device name, e.g. 'NVIDIA H100 80GB HBM3'")
    pci_bus_id: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    vbios_version: str | None = None
    mem_total_mib: U32 | None = None
    power_limit_default_mw: U32 | None = None
    power_limit_min_mw: U32 | None = None
    power_limit_max_mw: U32 | None = None
    temp_shutdown_c: TempC | None = None
    temp_slowdown_c: TempC | None = None
    temp_gpu_max_c: TempC | None = None
    temp_mem_max_c: TempC | None = None
    mig_mode: bool | None = None


class FacilitySample(_Strict):
    """One facility sensor reading (CDU, PDU, room), as bridged from MQTT."""

    schema_: Literal["gpufleet.facility_sample/1"] = Field(FACILITY_SAMPLE_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    site: Label
    hall: Label
    rack: Label
    sensor: Label = Field(description="one of gpufleet.contract.sensors.SENSORS; the unit is in the name")
    value: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _known_and_plausible(self) -> FacilitySample:
        sensor = SENSORS.get(self.sensor)
        if sensor is None:
            raise ValueError(f"unknown sensor {self.sensor!r}: expected one of {', '.join(SENSORS)}")
        if not sensor.low <= self.value <= sensor.high:
            raise ValueError(f"{self.sensor}={self.value!r} is outside [{sensor.low:g}, {sensor.high:g}] {sensor.unit}")
        return self


class GpuProcess(_Strict):
    """One compute process on one GPU (nvmlDeviceGetComputeRunningProcesses_v3)."""

    gpu_index: U8
    uuid: Label
    pid: U32
    used_mem_mib: U32 | None = Field(None, description="GPU memory the process holds; null where NVML cannot say")
    gpu_instance_id: U32 | None = Field(None, description="MIG GPU instance, null without MIG")
    compute_instance_id: U32 | None = Field(None, description="MIG compute instance, null without MIG")


class GpuProcesses(Topology):
    """Every compute process on a node's GPUs at one instant, published every few seconds.

    `gpus` lists the GPU indexes that were asked: one of them without a process in
    `processes` ran none, a GPU missing from `gpus` could not be asked (lost, unsupported).
    """

    schema_: Literal["gpufleet.gpu_processes/1"] = Field(GPU_PROCESSES_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    gpus: list[U8] = Field(max_length=64)
    processes: list[GpuProcess] = Field(max_length=4096)


class InstanceActivity(_Strict):
    """GPM activity of one MIG GPU instance over the last tick (nvmlGpmMigSampleGet).

    The metrics are the per-GPU GPM columns of `GpuSample`, with the same names, units and
    rounding, measured inside the instance: a percentage is of the instance's own SMs and
    DRAM bandwidth, as dcgm-exporter's `DCGM_FI_PROF_*` for entity GPU_I. Null where the
    instance could not be sampled this tick or NVML does not support the metric, never 0.
    """

    gpu_index: U8
    uuid: Label = Field(description="the parent GPU's UUID")
    gpu_instance_id: U32 = Field(description="MIG GPU instance id (nvmlDeviceGetGpuInstanceId; dcgm-exporter's GPU_I_ID)")
    profile: str | None = Field(None, max_length=64, description="GPU instance profile, e.g. 'MIG 3g.71gb' (GPU_I_PROFILE)")
    slice_count: U8 | None = Field(None, description="GPU slices of the instance (of 7 on H100/H200)")
    sm_active_pct: Pct | None = None
    sm_occupancy_pct: Pct | None = None
    tensor_active_pct: Pct | None = None
    hmma_active_pct: Pct | None = None
    dram_active_pct: Pct | None = None
    fp64_active_pct: Pct | None = None
    fp32_active_pct: Pct | None = None
    fp16_active_pct: Pct | None = None
    graphics_active_pct: Pct | None = None
    gpm_pcie_tx_mibps: U32 | None = None
    gpm_pcie_rx_mibps: U32 | None = None
    gpm_nvlink_tx_mibps: U32 | None = None
    gpm_nvlink_rx_mibps: U32 | None = None


class GpuInstanceActivity(Topology):
    """The GPM activity of every MIG GPU instance of one node at one tick: one message per
    node per tick, only from a node with a MIG-enabled GPU (a GPU without MIG has none)."""

    schema_: Literal["gpufleet.gpu_instance_activity/1"] = Field(GPU_INSTANCE_ACTIVITY_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    instances: list[InstanceActivity] = Field(min_length=1, max_length=512)

    @model_validator(mode="after")
    def _unique_instance(self) -> GpuInstanceActivity:
        seen: set[tuple[int, int]] = set()
        for i in self.instances:
            key = (i.gpu_index, i.gpu_instance_id)
            if key in seen:
                raise ValueError(
                    f"duplicate gpu_instance_id {i.gpu_instance_id!r} on gpu_index {i.gpu_index} in node {self.node!r}"
                )
            seen.add(key)
        return self


WIRE_MODELS: dict[str, type[BaseModel]] = {
    NODE_SAMPLE_SCHEMA: NodeSample,
    GPU_EVENT_SCHEMA: GpuEvent,
    GPU_INVENTORY_SCHEMA: GpuInventory,
    FACILITY_SAMPLE_SCHEMA: FacilitySample,
    JOB_ASSIGNMENT_SCHEMA: JobAssignment,
    GPU_PROCESSES_SCHEMA: GpuProcesses,
    GPU_INSTANCE_ACTIVITY_SCHEMA: GpuInstanceActivity,
}
