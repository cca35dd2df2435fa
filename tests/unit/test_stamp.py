"""A `Stamp` copy is the model `model_construct` would build from the same values."""

from __future__ import annotations

from collectors.synthetic.stamp import Stamp
from gpufleet.contract.schema import GPU_PROCESSES_SCHEMA, FacilitySample, GpuProcess, GpuProcesses


def test_stamped_reading_equals_model_construct() -> None:
    stamp = Stamp(FacilitySample.model_construct(ts_ms=0, site="s", hall="", rack="", sensor="", value=0.0))
    made = stamp(ts_ms=5_000, hall="h1", rack="r7", sensor="pdu_power_w", value=12.5)
    built = FacilitySample.model_construct(ts_ms=5_000, site="s", hall="h1", rack="r7", sensor="pdu_power_w", value=12.5)
    assert made == built
    assert made.model_fields_set == built.model_fields_set
    assert made.model_dump(by_alias=True) == built.model_dump(by_alias=True)
    assert FacilitySample.model_validate(made.model_dump(by_alias=True)) == built  # valid, as a fleet reading is
    assert stamp.template.ts_ms == 0  # the template is left as it was


def test_stamped_copies_do_not_share_fields_set() -> None:
    ids = {"gpu_instance_id": None, "compute_instance_id": None}
    proc = GpuProcess.model_construct(gpu_index=0, uuid="GPU-1", pid=4000, used_mem_mib=10, **ids)
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n"}
    template = GpuProcesses.model_construct(None, schema_=GPU_PROCESSES_SCHEMA, ts_ms=0, gpus=[0], processes=[proc], **labels)
    stamp = Stamp(template)
    a, b = stamp(ts_ms=1), stamp(ts_ms=2)
    assert (a.ts_ms, b.ts_ms) == (1, 2)
    assert a == GpuProcesses.model_construct(None, schema_=GPU_PROCESSES_SCHEMA, ts_ms=1, gpus=[0], processes=[proc], **labels)
    assert a.model_fields_set is not b.model_fields_set
