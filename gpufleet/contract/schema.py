"""Wire schema v1: the messages that cross from collectors to storage.

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
from gpufleet.contract.sensors import SENSORS

NODE_SAMPLE_SCHEMA: Final = "gpufleet.node_sample/1"
GPU_EVENT_SCHEMA: Final = "gpufleet.gpu_event/1"
GPU_INVENTORY_SCHEMA: Final = "gpufleet.gpu_inventory/1"
FACILITY_SAMPLE_SCHEMA: Final = "gpufleet.facility_sample/1"

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

    schema_: Literal["gpufleet.node_sample/1"] = Field(NODE_SAMPLE_SCHEMA, alias="schema")
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


EventKind = Literal["xid", "gpu_lost", "collector_start", "collector_stop"]
Severity = Literal["info", "warning", "critical"]


class GpuEvent(Topology):
    """Something that happened once: an XID, a GPU lost, a collector starting or stopping."""

    schema_: Literal["gpufleet.gpu_event/1"] = Field(GPU_EVENT_SCHEMA, alias="schema")
    ts_ms: TimestampMs
    kind: EventKind
    gpu_index: U8 | None = None
    uuid: str | None = None
    xid: U16 | None = None
    severity: Severity = "info"
    detail: str = Field("", max_length=4096, description="meaning and recommended action")

    @model_validator(mode="after")
    def _xid_needs_code(self) -> GpuEvent:
        if self.kind == "xid" and self.xid is None:
            raise ValueError("an event of kind 'xid' needs its xid code")
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


WIRE_MODELS: dict[str, type[BaseModel]] = {
    NODE_SAMPLE_SCHEMA: NodeSample,
    GPU_EVENT_SCHEMA: GpuEvent,
    GPU_INVENTORY_SCHEMA: GpuInventory,
    FACILITY_SAMPLE_SCHEMA: FacilitySample,
}
