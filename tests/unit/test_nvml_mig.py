"""GPM per MIG GPU instance (`nvmlGpmMigSampleGet`) through the NVML source, against the double.

The double's MIG GPUs hold two GPU instances (ids 1 and 2, 4 and 3 slices) whose GPM
figures are the GPU's times 1.0 and 0.5 (`double_gpm.instance_value`), so each instance's
columns can be compared with what the fleet produced for its GPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

import collectors.nvml.double as nvml
from collectors.base import SourceConfig
from collectors.nvml.double_gpm import instance_value
from collectors.nvml.source import NvmlSource
from gpufleet.app.cli import main
from gpufleet.contract.columns import GPM_COLUMNS
from gpufleet.contract.schema import GpuEvent, GpuInstanceActivity, InstanceActivity
from pipeline.kafka.decoder import decode_models
from pipeline.memory import MemoryBroker
from tests.support.nvml_frames import DOUBLE, TS, opened_source, tick, value

GPU_IS_LOST, UNKNOWN = 15, 999
MIG_GPU = 2


@pytest.fixture
def opened() -> Iterator[tuple[NvmlSource, list[GpuEvent]]]:
    with opened_source([MIG_GPU]) as opened:
        yield opened


def instances(src: NvmlSource) -> dict[int, InstanceActivity]:
    [message] = src.instance_activity(TS)
    assert message.ts_ms == TS and message.node == src.labels["node"]
    assert {i.gpu_index for i in message.instances} == {MIG_GPU}
    return {i.gpu_instance_id: i for i in message.instances}


def test_each_gpu_instance_has_its_own_activity(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    for _ in range(3):  # each instance alternates its own two samples
        nvml.advance()
        frame = tick(src)
        by_id = instances(src)
        assert sorted(by_id) == [1, 2]
        for column in GPM_COLUMNS:
            gpu = value(frame, MIG_GPU, column)
            assert gpu is not None, column
            assert getattr(by_id[1], column) == instance_value(gpu, 1), column
            assert getattr(by_id[2], column) == instance_value(gpu, 2), column
    assert (by_id[1].profile, by_id[1].slice_count) == ("MIG 4g.40gb", 4)
    assert (by_id[2].profile, by_id[2].slice_count) == ("MIG 3g.40gb", 3)
    assert by_id[1].uuid == by_id[2].uuid == src.gpus[MIG_GPU].uuid


def test_a_gpu_without_mig_emits_none() -> None:
    nvml.reset()
    source = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=20)
    source.open(lambda _e: None)
    try:
        nvml.advance()
        tick(source)
        assert source.instance_activity(TS) == []
        assert nvml.calls(0, "nvmlGpmMigSampleGet") == 0 and nvml.calls(0, "nvmlDeviceGetMaxMigDeviceCount") == 0
    finally:
        source.close()
        nvml.reset()


def test_an_unsupported_metric_is_null_never_0(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    nvml.set_unsupported(MIG_GPU, "gpm:5")
    nvml.advance()
    tick(src)
    by_id = instances(src)
    assert by_id[1].tensor_active_pct is None and by_id[2].tensor_active_pct is None
    assert by_id[1].sm_active_pct is not None and by_id[2].sm_active_pct is not None


def test_an_instance_that_cannot_be_sampled_stays_null_and_is_not_asked_again(
    opened: tuple[NvmlSource, list[GpuEvent]],
) -> None:
    src, _ = opened
    nvml.set_unsupported(MIG_GPU, "nvmlGpmMigSampleGet:2")
    for _ in range(2):
        nvml.advance()
        frame = tick(src)
    by_id = instances(src)
    assert all(getattr(by_id[2], c) is None for c in GPM_COLUMNS)  # null, never 0
    assert by_id[1].sm_active_pct is not None and value(frame, MIG_GPU, "sm_active_pct") is not None
    before = nvml.calls(MIG_GPU, "nvmlGpmMigSampleGet")
    nvml.advance()
    tick(src)
    assert nvml.calls(MIG_GPU, "nvmlGpmMigSampleGet") == before + 1  # instance 1 only


def test_an_nvml_error_on_one_instance_degrades_that_instance_for_that_tick(
    opened: tuple[NvmlSource, list[GpuEvent]],
) -> None:
    src, events = opened
    nvml.fail_next(MIG_GPU, "nvmlGpmMigSampleGet:1", UNKNOWN)
    nvml.advance()
    frame = tick(src)
    by_id = instances(src)
    assert all(getattr(by_id[1], c) is None for c in GPM_COLUMNS)
    assert by_id[2].sm_active_pct == instance_value(value(frame, MIG_GPU, "sm_active_pct") or 0, 2)
    assert value(frame, MIG_GPU, "sm_active_pct") is not None and not events  # the GPU itself is fine
    for _ in range(2):  # a fresh sample, then a pair again
        nvml.advance()
        frame = tick(src)
    assert instances(src)[1].sm_active_pct == value(frame, MIG_GPU, "sm_active_pct")


def test_an_unreadable_profile_is_null_and_the_activity_still_comes() -> None:
    nvml.reset(mig=[MIG_GPU])
    nvml.set_unsupported(MIG_GPU, "nvmlDeviceGetGpuInstanceProfileInfoById", "nvmlDeviceGetAttributes")
    source = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=20)
    source.open(lambda _e: None)
    try:
        nvml.advance()
        tick(source)
        by_id = instances(source)
        assert by_id[1].profile is None and by_id[1].slice_count is None and by_id[1].sm_active_pct is not None
    finally:
        source.close()
        nvml.reset()


def test_a_gpu_lost_while_sampling_an_instance_is_reported_once(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = opened
    nvml.fail_next(MIG_GPU, "nvmlGpmMigSampleGet:2", GPU_IS_LOST)
    nvml.advance()
    frame = tick(src)
    assert MIG_GPU not in frame.gpu_index.tolist() and len(frame) == 7
    assert [(e.kind, e.gpu_index) for e in events] == [("gpu_lost", MIG_GPU)]
    assert src.instance_activity(TS) == []  # a lost GPU's instances are not reported


def test_the_message_refuses_a_duplicate_instance() -> None:
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n"}
    one = {"gpu_index": 0, "uuid": "GPU-0", "gpu_instance_id": 1}
    with pytest.raises(ValueError, match="duplicate gpu_instance_id 1"):
        GpuInstanceActivity.model_validate({**labels, "ts_ms": 1, "instances": [one, one]})
    with pytest.raises(ValueError, match="at least 1"):
        GpuInstanceActivity.model_validate({**labels, "ts_ms": 1, "instances": []})


def test_collect_once_prints_per_instance_activity(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_MIG", "3")
    assert main(["collect", "--source", "nvml", "--nvml-module", DOUBLE, "--once", "--node", "node-00007"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    kinds = [line["schema"] for line in lines]
    assert kinds.count("gpufleet.gpu_instance_activity/1") == 1
    [raw] = [line for line in lines if line["schema"] == "gpufleet.gpu_instance_activity/1"]
    message = GpuInstanceActivity.model_validate(raw)
    assert message.node == "node-00007" and [(i.gpu_index, i.gpu_instance_id) for i in message.instances] == [(3, 1), (3, 2)]
    [sample] = [line for line in lines if line["schema"].startswith("gpufleet.node_sample/")]
    gpu3 = sample["gpus"][3]
    for column in GPM_COLUMNS:
        assert raw["instances"][0][column] == gpu3[column] and raw["instances"][1][column] == instance_value(gpu3[column], 2)


def test_collect_once_without_mig_prints_no_instance_activity(
    capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch
) -> None:
    assert main(["collect", "--source", "nvml", "--nvml-module", DOUBLE, "--once"]) == 0
    out = capsys.readouterr().out
    assert "gpu_instance_activity" not in out and "gpufleet.node_sample/2" in out


def test_bad_instance_activity_is_refused_with_a_reason_and_late_one_dead_lettered() -> None:
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n"}
    now = int(time.time() * 1000)
    good = {**labels, "schema": "gpufleet.gpu_instance_activity/1", "ts_ms": now, "instances": [
        {"gpu_index": 0, "uuid": "GPU-0", "gpu_instance_id": 1, "sm_active_pct": 50}]}  # fmt: skip
    broken = json.loads(json.dumps(good))
    broken["instances"][0]["sm_active_pct"] = 101  # a percentage above 100: broken
    decoded, refused = decode_models([json.dumps(good).encode(), json.dumps(broken).encode()], GpuInstanceActivity, 1 << 20)
    assert len(decoded) == 1 and decoded[0].instances[0].sm_active_pct == 50 and decoded[0].instances[0].tensor_active_pct is None
    assert [r.index for r in refused] == [1] and "sm_active_pct" in refused[0].reason
    broker = MemoryBroker()
    late = GpuInstanceActivity.model_validate({**good, "ts_ms": now + 86_400_000})  # a day ahead
    broker.publish_instance_activity([decoded[0], late])
    delivery = broker.poll(1.0)
    assert delivery is not None and delivery.instance_activity == [decoded[0]]
    assert len(delivery.dead_letters) == 1 and "out of time window" in delivery.dead_letters[0].reason
