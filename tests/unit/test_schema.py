"""Wire schema v1: what it accepts, what it rejects and how it says so, and that the
vectorised frame check gives the same verdicts as the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gpufleet.app.cli import main
from gpufleet.contract.frame import check_frame, frame_from_node_samples
from gpufleet.contract.schema import WIRE_MODELS, GpuEvent, GpuSample, NodeSample
from tests.support.cli import REPO


def gpu(index: int = 0, **values: Any) -> dict[str, Any]:
    base = {
        "gpu_index": index,
        "uuid": f"GPU-{index:04d}",
        "power_mw": 612_000,
        "power_limit_mw": 700_000,
        "gpu_temp_c": 45,
        "mem_temp_c": 52,
        "util_gpu_pct": 97,
        "util_mem_pct": 40,
        "energy_mj": 10**10,
    }
    return base | values


def node(gpus: list[dict[str, Any]] | None = None, **values: Any) -> dict[str, Any]:
    base = {
        "schema": "gpufleet.node_sample/1",
        "ts_ms": 1_795_000_000_000,
        "seq": 7,
        "cluster": "c",
        "hall": "h",
        "row": "r",
        "rack": "k",
        "node": "n1",
        "gpus": gpus if gpus is not None else [gpu(0), gpu(1)],
    }
    return base | values


def test_valid_message_round_trips_through_json() -> None:
    sample = NodeSample.model_validate(node())
    text = sample.model_dump_json()
    assert json.loads(text)["schema"] == "gpufleet.node_sample/1"
    assert NodeSample.model_validate_json(text) == sample


def test_unsupported_metric_is_null_not_zero() -> None:
    sample = NodeSample.model_validate(node([gpu(0, mem_temp_c=None)]))
    assert sample.gpus[0].mem_temp_c is None
    assert json.loads(sample.model_dump_json())["gpus"][0]["mem_temp_c"] is None


@pytest.mark.parametrize(
    ("message", "field", "value"),
    [
        (node(schema="gpufleet.node_sample/3"), "schema", "gpufleet.node_sample/3"),
        ({k: v for k, v in node().items() if k != "node"}, "node", None),
        (node([gpu(0, gpu_temp_c=201)]), "gpu_temp_c", "201"),
        (node([gpu(0, mem_temp_c=-41)]), "mem_temp_c", "-41"),
        (node([gpu(0, util_gpu_pct=101)]), "util_gpu_pct", "101"),
        (node([gpu(0, util_mem_pct=-1)]), "util_mem_pct", "-1"),
        (node([gpu(0, power_mw=1_400_001)]), "power_mw", "1400001"),
        (node([gpu(0, ecc_uncorrected_count=-1)]), "ecc_uncorrected_count", "-1"),
        (node([gpu(0, energy_mj=-5)]), "energy_mj", "-5"),
        (node([gpu(3), gpu(3)]), "gpu_index", "3"),
    ],
)
def test_rejections_name_the_field_and_value(message: dict[str, Any], field: str, value: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        NodeSample.model_validate(message)
    text = str(info.value)
    assert field in text
    if value is not None:
        assert value in text


def test_xid_event_needs_its_code() -> None:
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n"}
    with pytest.raises(ValidationError, match="xid"):
        GpuEvent.model_validate({"ts_ms": 1, "kind": "xid", **labels})
    assert GpuEvent.model_validate({"ts_ms": 1, "kind": "xid", "xid": 79, **labels}).xid == 79


# Values around every boundary the schema enforces, nulls included.
temps = st.one_of(st.none(), st.integers(-60, 220))
pcts = st.one_of(st.none(), st.integers(0, 130))
powers = st.one_of(st.none(), st.integers(0, 2_000_000))
limits = st.one_of(st.none(), st.integers(0, 900_000))
gpu_values = st.fixed_dictionaries(
    {
        "gpu_temp_c": temps,
        "mem_temp_c": temps,
        "util_gpu_pct": pcts,
        "util_mem_pct": pcts,
        "power_mw": powers,
        "power_limit_mw": limits,
    }
)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.lists(st.tuples(st.integers(0, 7), gpu_values), min_size=1, max_size=8), st.integers(0, 3)),
        min_size=1,
        max_size=6,
    )
)
def test_frame_check_agrees_with_pydantic(messages: list[tuple[list[tuple[int, dict[str, Any]]], int]]) -> None:
    built, verdicts = [], []
    for i, (gpus, node_id) in enumerate(messages):
        raw = node([gpu(index, **values) for index, values in gpus], node=f"n{node_id}", ts_ms=1_000 + i)
        try:
            NodeSample.model_validate(raw)
            verdicts.append(True)
        except ValidationError:
            verdicts.append(False)
        gpu_models = [GpuSample.model_construct(**g) for g in raw.pop("gpus")]
        built.append(NodeSample.model_construct(gpus=gpu_models, **{k: v for k, v in raw.items() if k != "schema"}))
    kept, rejected = check_frame(frame_from_node_samples(built))
    kept_keys = {(n, t) for n, t in zip(kept.label_list("node"), kept.ts_ms.tolist(), strict=True)}
    rejected_keys = {(r.node, r.ts_ms) for r in rejected}
    for message, ok in zip(built, verdicts, strict=True):
        key = (message.node, message.ts_ms)
        assert (key in kept_keys) == ok and (key in rejected_keys) == (not ok), (message, ok, rejected)


def test_exported_json_schema_is_current(tmp_path: Path) -> None:
    assert main(["schema", "export", "--out", str(tmp_path)]) == 0
    for schema_id in WIRE_MODELS:
        name = schema_id.replace("gpufleet.", "").replace("/", ".v") + ".json"
        generated = json.loads((tmp_path / name).read_text())
        committed = json.loads((REPO / "docs" / "schema" / name).read_text())
        assert generated == committed, f"docs/schema/{name} is stale: run `gpufleet schema export`"


def test_frame_to_messages_and_back_is_lossless() -> None:
    import time

    import numpy as np

    from collectors.synthetic.fleet import SyntheticFleet
    from collectors.synthetic.scenario import load_scenario
    from gpufleet.contract.frame import node_message_dicts, node_samples_from_frame

    fleet = SyntheticFleet(64, 2, load_scenario("default"), int(time.time()) * 1000, 1.0, 10)
    frame = fleet.tick()[0]
    frame.nulls["mem_temp_c"] = frame.gpu_index == 6
    dicts = node_message_dicts(frame)
    models = node_samples_from_frame(frame)
    assert len(dicts) == len(models) == 8
    assert [NodeSample.model_validate(d) for d in dicts] == models  # the dicts are valid wire messages
    assert all(g.mem_temp_c is None for m in models for g in m.gpus if g.gpu_index == 6)
    back = frame_from_node_samples(models)
    order = np.lexsort((frame.gpu_index, frame.labels["node"].codes))
    for name, values in frame.metrics.items():
        present = ~frame.null_mask(name)[order]  # a null's slot in the array means nothing
        assert np.array_equal(back.metrics[name][present], values[order][present]), name
    assert np.array_equal(back.null_mask("mem_temp_c"), frame.null_mask("mem_temp_c")[order])


def test_v1_messages_are_still_accepted_and_v2_ones_carry_the_new_fields() -> None:
    from gpufleet.contract.schema import NODE_SAMPLE_SCHEMA, GpuProcesses
    from pipeline.kafka.decoder import decode_samples

    v1 = node()  # schema gpufleet.node_sample/1, no GPM fields
    assert NodeSample.model_validate(v1).gpus[0].sm_active_pct is None
    v2 = node([gpu(0, sm_active_pct=87, tensor_active_pct=55, recovery_action=4)], schema=NODE_SAMPLE_SCHEMA)
    frame, refused = decode_samples([json.dumps(v1).encode(), json.dumps(v2).encode()])
    assert refused == [] and len(frame) == 3
    assert frame.null_mask("sm_active_pct").tolist() == [True, True, False]
    assert int(frame.metrics["sm_active_pct"][2]) == 87 and int(frame.metrics["recovery_action"][2]) == 4
    with pytest.raises(ValidationError, match="sm_active_pct"):
        NodeSample.model_validate(node([gpu(0, sm_active_pct=101)], schema=NODE_SAMPLE_SCHEMA))
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n1"}
    old_event = GpuEvent.model_validate({"schema": "gpufleet.gpu_event/1", "ts_ms": 1, "kind": "xid", "xid": 48, **labels})
    assert old_event.recovery_action is None
    with pytest.raises(ValidationError, match="recovery_action"):
        GpuEvent.model_validate({"ts_ms": 1, "kind": "recovery_action", **labels})
    procs = GpuProcesses.model_validate(
        {"ts_ms": 1, "gpus": [0, 1], "processes": [{"gpu_index": 0, "uuid": "GPU-0", "pid": 7, "used_mem_mib": 10}], **labels}
    )
    assert procs.processes[0].gpu_instance_id is None
