"""GPM activity per MIG GPU instance (`nvmlGpmMigSampleGet`), for GPUs in MIG mode.

On a MIG-enabled GPU the whole-GPU GPM figures mix the tenants of every instance; an SRE
asks what each instance (each tenant, each Kubernetes MIG slice) is doing, which is what
dcgm-exporter reports for entity GPU_I. The GPU instances are found once per NVML init:
the MIG devices by index (`nvmlDeviceGetMaxMigDeviceCount`,
`nvmlDeviceGetMigDeviceHandleByIndex`), each one's GPU instance id
(`nvmlDeviceGetGpuInstanceId`; several compute instances of one GPU instance count once),
its slice count (`nvmlDeviceGetAttributes`) and profile name (`nvmlDeviceGetGpuInstanceById`
-> `nvmlGpuInstanceGetInfo` -> `nvmlDeviceGetGpuInstanceProfileInfoById`), each read
tolerantly (null when NVML cannot say). Each instance then has its own pair of GPM samples
(`GpmReader.open_instance`) and is read every tick like the GPU itself.

Tolerance: a failed read of one instance nulls that instance's metrics for that tick only;
an instance whose sampling is unsupported stays null; GPU_IS_LOST or a lost driver is
raised for the sampler, as for every read of the GPU. A MIG reconfiguration is seen at the
next NVML re-init (instances are not re-enumerated every tick: that is ~7 calls per GPU).
MIG mode itself is only read, never changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from collectors.nvml.gpm import COLUMNS, GpmReader, GpmState
from collectors.nvml.lib import NvmlCallError, NvmlLib, Outcome
from gpufleet.contract.schema import GPU_INSTANCE_ACTIVITY_SCHEMA, GpuInstanceActivity

log = logging.getLogger(__name__)


@dataclass(slots=True)
class MigInstance:
    """One MIG GPU instance of a GPU and its GPM state; `values` are the last tick's metrics."""

    gpu_instance_id: int
    profile: str | None
    slice_count: int | None
    gpm: GpmState | None
    values: list[int | None] = field(default_factory=lambda: [None] * len(COLUMNS))
    failed_last_tick: int = 0


def discover(lib: NvmlLib, handle: Any) -> list[tuple[int, str | None, int | None]]:
    """(GPU instance id, profile name, slice count) of each GPU instance of a MIG-enabled GPU.

    Raises:
        NvmlCallError: LOST or REINIT (anything else leaves an instance, or a detail, out).
    """
    count = lib.query("nvmlDeviceGetMaxMigDeviceCount", handle, default=0)
    found: dict[int, tuple[str | None, int | None]] = {}
    for index in range(int(count or 0)):
        try:
            mig = lib.call("nvmlDeviceGetMigDeviceHandleByIndex", handle, index)
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            continue  # NOT_FOUND: no MIG device at this index
        gi = lib.query("nvmlDeviceGetGpuInstanceId", mig)
        if gi is None or int(gi) in found:
            continue
        attrs = lib.query("nvmlDeviceGetAttributes", mig)
        slices = None if attrs is None else int(attrs.gpuInstanceSliceCount)
        found[int(gi)] = (profile_name(lib, handle, int(gi)), slices)
    return [(gi, profile, slices) for gi, (profile, slices) in sorted(found.items())]


def profile_name(lib: NvmlLib, handle: Any, gpu_instance_id: int) -> str | None:
    """The instance's profile as NVML names it ('MIG 3g.71gb'), or None when it cannot say."""
    instance = lib.query("nvmlDeviceGetGpuInstanceById", handle, gpu_instance_id)
    info = None if instance is None else lib.query("nvmlGpuInstanceGetInfo", instance)
    profile = None if info is None else lib.query("nvmlDeviceGetGpuInstanceProfileInfoById", handle, int(info.profileId))
    if profile is None:
        return None
    name = profile.name
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return text.strip()[:64] or None


def open_instances(lib: NvmlLib, reader: GpmReader, handle: Any) -> list[MigInstance]:
    """Every GPU instance of the GPU behind `handle`, each with its GPM samples allocated."""
    out = []
    for gi, profile, slices in discover(lib, handle):
        out.append(MigInstance(gi, profile, slices, reader.open_instance(handle, gi)))
    if out:
        log.info("MIG GPU instances found", extra={"gpu_instance_ids": [i.gpu_instance_id for i in out]})
    return out


def read_instances(reader: GpmReader, handle: Any, instances: list[MigInstance]) -> int:
    """This tick's metrics of each instance into its `values`; how many failed transiently.

    Raises:
        NvmlCallError: LOST or REINIT, for the caller to act on for the whole GPU.
    """
    failed = 0
    for inst in instances:
        if inst.gpm is None:
            continue
        inst.values, inst.failed_last_tick = reader.read(handle, inst.gpm)
        failed += inst.failed_last_tick
    return failed


def close_instances(reader: GpmReader, instances: list[MigInstance]) -> None:
    for inst in instances:
        if inst.gpm is not None:
            reader.close(inst.gpm)
            inst.gpm = None


def instance_message(
    labels: dict[str, str], ts_ms: int, gpus: list[tuple[int, str, list[MigInstance]]]
) -> GpuInstanceActivity | None:
    """One node's `GpuInstanceActivity` from (gpu index, uuid, instances) per GPU; None without instances."""
    rows = [
        {
            "gpu_index": index,
            "uuid": uuid,
            "gpu_instance_id": inst.gpu_instance_id,
            "profile": inst.profile,
            "slice_count": inst.slice_count,
            **dict(zip(COLUMNS, inst.values, strict=True)),
        }
        for index, uuid, instances in gpus
        for inst in instances
    ]
    if not rows:
        return None
    message = {**labels, "schema": GPU_INSTANCE_ACTIVITY_SCHEMA, "ts_ms": ts_ms, "instances": rows}
    return GpuInstanceActivity.model_validate(message)
