"""The fast Kafka decoder (msgspec + vectorised checks) against the schema of record (pydantic).

No broker here: these run on bytes. The property test feeds both the same generated
messages — valid ones and ones broken in the ways producers break them — and requires the
same verdict, and for accepted messages the same rows.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.columns import METRIC_COLUMNS
from gpufleet.contract.frame import GpuFrame, frame_from_node_samples, node_samples_from_frame
from gpufleet.contract.schema import NodeSample
from pipeline.kafka.batches import BEHIND_WAIT_FACTOR, PartitionBatch
from pipeline.kafka.codec import encode_node_samples
from pipeline.kafka.deadletters import MAX_VALUE_BYTES, dead_letter
from pipeline.kafka.decoder import decode_samples
from pipeline.kafka.structs import NodeSampleStruct


def _messages(gpus: int = 64, ticks: int = 2) -> list[bytes]:
    fleet = SyntheticFleet(
        n_gpus=gpus, seed=3, scenario=load_scenario("default"), start_ms=1_750_000_000_000, interval_s=1.0, run_s=60, cluster="c"
    )
    return [m.model_dump_json().encode() for _ in range(ticks) for m in node_samples_from_frame(fleet.tick()[0])]


def assert_same_frame(a: GpuFrame, b: GpuFrame) -> None:
    assert len(a) == len(b)
    assert a.ts_ms.tolist() == b.ts_ms.tolist() and a.seq.tolist() == b.seq.tolist()
    assert a.gpu_index.tolist() == b.gpu_index.tolist()
    for name in ("cluster", "hall", "row", "rack", "node", "uuid"):
        assert a.label_list(name) == b.label_list(name), name
    for m in METRIC_COLUMNS:
        assert a.metrics[m.name].dtype == b.metrics[m.name].dtype, m.name
        assert np.array_equal(a.null_mask(m.name), b.null_mask(m.name)), m.name
        keep = ~a.null_mask(m.name)
        assert np.array_equal(a.metrics[m.name][keep], b.metrics[m.name][keep]), m.name


def test_struct_mirrors_every_pydantic_field() -> None:
    assert NodeSampleStruct.__struct_fields__ == tuple(NodeSample.model_fields)
    gpu_struct = NodeSampleStruct.__annotations__["gpus"].__origin__.__args__[0]
    assert gpu_struct.__struct_fields__ == ("gpu_index", "uuid", *(m.name for m in METRIC_COLUMNS))


def test_batch_decode_equals_pydantic_path() -> None:
    messages = _messages()
    frame, refused = decode_samples(messages)
    assert refused == []
    assert_same_frame(frame, frame_from_node_samples(NodeSample.model_validate_json(m) for m in messages))


def test_bad_messages_are_refused_with_reasons_and_the_rest_kept() -> None:
    good = _messages(gpus=16, ticks=1)  # two nodes
    temp = json.loads(good[0])
    temp["gpus"][3]["gpu_temp_c"] = 500
    power = json.loads(good[1])
    power["gpus"][0].update(power_mw=2_000_000, power_limit_mw=700_000)  # cross-field rule, checked on the frame
    batch = [
        good[0],
        b'{"cluster": "c", "node": ',
        good[0].replace(b"node_sample/2", b"node_sample/9"),
        json.dumps(temp).encode(),
        good[0] + b" " * 300_000,
        json.dumps(power).encode(),
        good[1],
    ]
    frame, refused = decode_samples(batch)
    reasons = {r.index: r.reason for r in refused}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert reasons[1].startswith("malformed JSON")
    assert reasons[2].startswith("unknown schema 'gpufleet.node_sample/9'")
    assert "gpu_temp_c" in reasons[3] and "500" in reasons[3]
    assert reasons[4].startswith("oversized: 30")
    assert "power_mw above twice power_limit_mw" in reasons[5]
    assert len(frame) == 16 and sorted(set(frame.label_list("node"))) == sorted({json.loads(g)["node"] for g in good})


def test_two_copies_of_one_message_are_both_kept() -> None:
    """A producer retry can put a message in the log twice; each copy is valid on its own."""
    message = _messages(gpus=8, ticks=1)[0]
    frame, refused = decode_samples([message, message])
    assert refused == [] and len(frame) == 16


def test_uint64_above_range_goes_to_pydantic_and_is_refused() -> None:
    msg = json.loads(_messages(gpus=8, ticks=1)[0])
    msg["gpus"][0]["energy_mj"] = 2**64
    frame, refused = decode_samples([json.dumps(msg).encode(), *_messages(gpus=8, ticks=1)])
    assert [r.index for r in refused] == [0] and "energy_mj" in refused[0].reason
    assert len(frame) == 8


def test_two_messages_glued_into_one_value_are_not_split_into_two() -> None:
    a, b = _messages(gpus=16, ticks=1)
    frame, refused = decode_samples([a + b"," + b])
    assert len(frame) == 0 and len(refused) == 1


_EDGE_INTS = st.sampled_from(
    [-1, 0, 1, 100, 101, 200, 201, -40, -41, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**64 - 1, 2**64]
)
_ODD = st.sampled_from(["5", "x", "", 5.0, 5.5, True, False, [], {}])


def _value(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), st.just(valid), st.just(valid), st.none(), _EDGE_INTS, _ODD)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = json.loads(draw(st.sampled_from(_BASE)))
    gpu = base["gpus"][draw(st.integers(0, len(base["gpus"]) - 1))]
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["gpu", "gpu", "gpu", "node"]))
        obj = gpu if target == "gpu" else base
        key = draw(st.sampled_from([*obj.keys(), "extra"]))
        action = draw(st.sampled_from(["set", "set", "set", "drop"]))
        if action == "drop":
            obj.pop(key, None)
        else:
            obj[key] = draw(_value(obj.get(key)))
    if draw(st.booleans()) and isinstance(base.get("gpus"), list) and base["gpus"]:
        base["gpus"].append(dict(base["gpus"][0]))  # duplicate gpu_index unless changed above
    return json.dumps(base).encode()


_BASE = _messages(gpus=16, ticks=1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_msgspec_path_and_pydantic_agree(message: bytes) -> None:
    try:
        model: NodeSample | None = NodeSample.model_validate_json(message)
    except ValidationError:
        model = None
    frame, refused = decode_samples([message])
    if model is None:
        assert len(refused) == 1 and len(frame) == 0, message
    else:
        assert refused == [], (refused, message)
        assert_same_frame(frame, frame_from_node_samples([model]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=2, max_size=6), st.booleans())
def test_batch_verdicts_equal_pydantic_message_by_message(messages: list[bytes], streamed: bool) -> None:
    """A batch mixes messages for the streamed columns, the float64 null path, the object
    path and the per-message retry; each message's verdict and rows are still pydantic's."""
    models: list[NodeSample] = []
    rejected: list[int] = []
    for i, message in enumerate(messages):
        try:
            models.append(NodeSample.model_validate_json(message))
        except ValidationError:
            rejected.append(i)
    frame, refused = decode_samples(messages, streamed=streamed)
    assert [r.index for r in refused] == rejected, (refused, messages)
    assert_same_frame(frame, frame_from_node_samples(models))


def _with(message: bytes, **gpu_values: Any) -> bytes:
    msg = json.loads(message)
    for gpu in msg["gpus"]:
        gpu.update(gpu_values)
    return json.dumps(msg).encode()


@pytest.mark.parametrize(
    "change",
    [
        {},  # no nulls: one int64 buffer
        {"sm_active_pct": None, "mem_temp_c": None, "remap_pending": None, "power_mw": None},  # float64, NaN = null
        {"energy_mj": 2**53 + 1, "tensor_active_pct": None},  # above float64's exact range: object path
        {"clocks_event_reasons": 2**64 - 1},  # above int64: float64 then object path
        {"remap_failure": True, "gpu_temp_c": -40, "ecc_corrected_count": 2**53 - 1},
    ],
    ids=["dense", "nulls", "above-2**53", "above-int64", "edges"],
)
def test_streamed_columns_equal_the_table_path_and_pydantic(change: dict[str, Any]) -> None:
    messages = [_with(m, **change) for m in _messages(gpus=32, ticks=2)]
    streamed, refused = decode_samples(messages)
    table, refused_table = decode_samples(messages, streamed=False)
    assert refused == refused_table == []
    assert_same_frame(streamed, table)
    assert_same_frame(streamed, frame_from_node_samples(NodeSample.model_validate_json(m) for m in messages))
    for name, value in change.items():  # the change is there: not two equally wrong frames
        if value is None:
            assert streamed.null_mask(name).all(), name
        else:
            assert not streamed.null_mask(name).any() and (streamed.metrics[name] == value).all(), name


def test_one_message_batch_and_a_bad_neighbour() -> None:
    (one,) = _messages(gpus=8, ticks=1)
    frame, refused = decode_samples([one])
    assert refused == [] and len(frame) == 8
    frame, refused = decode_samples([one, b"[" + one + b"]", _with(one, power_mw=None)])
    assert [r.index for r in refused] == [1] and len(frame) == 16
    assert frame.null_mask("power_mw").tolist() == [False] * 8 + [True] * 8


def test_dead_letter_headers_say_where_and_why() -> None:
    class Record:
        topic, partition, offset, timestamp, key = "gpufleet.samples.v1", 3, 1234, 1_750_000_000_000, b"node-1"
        value = b"x" * (MAX_VALUE_BYTES + 10)

    key, value, headers = dead_letter(Record(), "oversized: too big", "topic-id-1")
    h = dict(headers)
    assert key == b"node-1" and len(value) == MAX_VALUE_BYTES
    assert h["gpufleet.reason"] == b"oversized: too big" and h["gpufleet.source_topic"] == b"gpufleet.samples.v1"
    assert h["gpufleet.source_partition"] == b"3" and h["gpufleet.source_offset"] == b"1234"
    assert h["gpufleet.source_topic_id"] == b"topic-id-1" and h["gpufleet.truncated"] == str(MAX_VALUE_BYTES + 10).encode()


class _Rec:
    def __init__(self, offset: int, value: bytes = b"{}") -> None:
        self.offset = offset
        self.value = value


def test_batch_stops_at_max_and_reports_where_to_resume() -> None:
    batch = PartitionBatch("id")
    assert batch.add([_Rec(i) for i in range(10, 16)], max_messages=4) == 14
    assert [r.offset for r in batch.records] == [10, 11, 12, 13] and batch.ready(4, 60.0, draining=False)
    assert batch.token("t", 2) == "t:id:2:10-13"


def test_recorded_range_is_repeated_exactly_never_cut_by_time() -> None:
    batch = PartitionBatch("id", end_offset=12)
    assert batch.add([_Rec(10), _Rec(11)], max_messages=1) is None  # max does not cut a recorded range
    assert not batch.ready(1, 0.0, draining=True)  # neither does time, nor shutdown
    assert batch.add([_Rec(11), _Rec(12), _Rec(13)], max_messages=1) == 13  # 11 seen already
    assert batch.ready(1, 60.0, draining=False) and batch.token("t", 0) == "t:id:0:10-12"


def test_caught_up_batch_goes_when_quiet_and_a_batch_behind_waits_to_fill() -> None:
    batch = PartitionBatch("id")
    batch.add([_Rec(i, b"12345") for i in range(10, 13)], max_messages=100)
    assert batch.value_bytes == 15
    # caught up (the log ends after offset 12): not yet quiet, then quiet
    assert not batch.ready(100, 60.0, draining=False, highwater=13, quiet_s=60.0)
    assert batch.ready(100, 60.0, draining=False, highwater=13, quiet_s=1e-9)
    assert not batch.ready(100, 60.0, draining=False, highwater=13, quiet_s=0)  # no quiet trigger
    # a backlog (the log holds more than the batch has room for): neither quiet nor max_wait
    # cuts it, only the longer bound
    batch.started_s -= 1.5
    assert not batch.ready(100, 1.0, draining=False, highwater=500, quiet_s=1e-9)
    assert batch.ready(100, 1.0, draining=False, highwater=13)  # caught up: max_wait
    assert batch.ready(100, 60.0, draining=False, highwater=50, quiet_s=1e-9)  # a little behind: quiet still cuts
    batch.started_s -= BEHIND_WAIT_FACTOR * 1.0
    assert batch.ready(100, 1.0, draining=False, highwater=500)
    assert PartitionBatch("id", records=batch.records).ready(100, 60.0, draining=False, highwater=500, crowded=True)


def test_recorded_range_is_not_cut_when_quiet_or_crowded() -> None:
    batch = PartitionBatch("id", end_offset=20)
    batch.add([_Rec(10), _Rec(11)], max_messages=1)
    assert not batch.ready(1, 0.0, draining=False, highwater=12, quiet_s=1e-9, crowded=True)


def test_recorded_range_lost_to_retention_is_forgotten() -> None:
    batch = PartitionBatch("id", end_offset=5)
    assert batch.add([_Rec(9)], max_messages=10) is None
    assert batch.end_offset is None and [r.offset for r in batch.records] == [9]


@pytest.mark.parametrize("payload", [b"", b"null", b"[]", b"{}"])
def test_degenerate_values_are_refused(payload: bytes) -> None:
    frame, refused = decode_samples([payload])
    assert len(frame) == 0 and len(refused) == 1


def test_producer_encoding_is_pydantics_json_byte_for_byte() -> None:
    fleet = SyntheticFleet(
        n_gpus=32, seed=7, scenario=load_scenario("default"), start_ms=1_750_000_000_000, interval_s=1.0, run_s=60
    )
    frame = GpuFrame.concat([fleet.tick()[0], fleet.tick()[0]])
    models = node_samples_from_frame(frame)
    # Nulls and booleans too: an unsupported metric is null, remap flags are JSON booleans.
    holes = json.loads(models[0].model_dump_json())
    holes["gpus"][1].update(mem_temp_c=None, power_mw=None, remap_pending=True)
    frame = frame_from_node_samples([NodeSample.model_validate(holes), *models[1:]])
    encoded = encode_node_samples(frame)
    assert [v for _, v, _ in encoded] == [m.model_dump_json().encode() for m in node_samples_from_frame(frame)]
    assert [(k, n) for k, _, n in encoded] == [(m.node.encode(), len(m.gpus)) for m in node_samples_from_frame(frame)]


def test_a_batch_of_more_than_4096_messages_has_no_false_duplicates() -> None:
    """check_frame once packed (message, gpu_index) into one int64 that wrapped past 4,096 messages."""
    fleet = SyntheticFleet(
        n_gpus=8 * 4200, seed=2, scenario=load_scenario("none"), start_ms=1_750_000_000_000, interval_s=1.0, run_s=60
    )
    messages = [v for _, v, _ in encode_node_samples(fleet.tick()[0])]
    frame, refused = decode_samples(messages)
    assert refused == [] and len(frame) == 8 * 4200
    duplicate = json.loads(messages[4199])
    duplicate["gpus"][1]["gpu_index"] = duplicate["gpus"][0]["gpu_index"]
    frame, refused = decode_samples([*messages[:4199], json.dumps(duplicate).encode()])
    assert [r.index for r in refused] == [4199] and "duplicate gpu_index" in refused[0].reason
