"""GPM activity, the recovery action and processes through the NVML source, against the double.

The GPM columns are computed between two GPM samples per GPU (`collectors.nvml.gpm`): the
double answers a metric between two samples with the later tick's fleet value, so the
collector's columns can be compared with what the fleet produced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

import collectors.nvml.double as nvml
from collectors.nvml.source import NvmlSource
from gpufleet.contract.columns import GPM_COLUMNS
from gpufleet.contract.schema import GpuEvent
from tests.support.nvml_frames import TS, opened_source, tick, value

GPU_IS_LOST, UNKNOWN = 15, 999


@pytest.fixture
def opened() -> Iterator[tuple[NvmlSource, list[GpuEvent]]]:
    with opened_source([6]) as opened:
        yield opened


def test_every_tick_computes_gpm_between_its_sample_and_the_last(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    for _ in range(3):  # the samples alternate: each tick must still pair the right two
        expected = nvml.advance()
        frame = tick(src)
        for name in GPM_COLUMNS:
            np.testing.assert_array_equal(frame.metrics[name], expected.metrics[name], err_msg=name)
    assert value(frame, 6, "sm_active_pct") is not None  # a MIG-enabled GPU: whole-GPU GPM


def test_an_unsupported_metric_is_null_and_not_asked_again(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    nvml.set_unsupported(2, "gpm:5")
    nvml.advance()
    assert value(tick(src), 2, "tensor_active_pct") is None
    nvml.set_supported(2, "gpm:5")
    nvml.advance()
    frame = tick(src)
    assert value(frame, 2, "tensor_active_pct") is None  # remembered until NVML re-initialises
    assert value(frame, 2, "sm_active_pct") is not None and value(frame, 3, "tensor_active_pct") is not None


def test_a_transient_failure_nulls_one_tick_only(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    nvml.fail_next(1, "gpm:2", UNKNOWN)
    nvml.advance()
    frame = tick(src)
    assert value(frame, 1, "sm_active_pct") is None and value(frame, 1, "dram_active_pct") is not None
    expected = nvml.advance()
    assert value(tick(src), 1, "sm_active_pct") == value(expected, 1, "sm_active_pct")


def test_a_failed_sample_skips_a_tick_then_pairs_again(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    nvml.fail_next(0, "nvmlGpmSampleGet", UNKNOWN)
    nvml.advance()
    failed = tick(src)
    assert all(value(failed, 0, c) is None for c in GPM_COLUMNS)
    nvml.advance()
    unpaired = tick(src)
    assert all(value(unpaired, 0, c) is None for c in GPM_COLUMNS)  # no previous sample to pair with
    assert value(unpaired, 1, "sm_active_pct") is not None
    expected = nvml.advance()
    frame = tick(src)
    assert [value(frame, 0, c) for c in GPM_COLUMNS] == [value(expected, 0, c) for c in GPM_COLUMNS]


def test_a_gpu_lost_in_the_gpm_sample_is_reported_once(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = opened
    nvml.fail_next(5, "nvmlGpmSampleGet", GPU_IS_LOST)
    nvml.advance()
    frame = tick(src)
    assert 5 not in frame.gpu_index.tolist() and len(frame) == 7
    assert [e.gpu_index for e in events if e.kind == "gpu_lost"] == [5]


def test_a_recovery_action_change_is_one_event_and_a_column(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = opened
    nvml.advance()
    assert set(tick(src).metrics["recovery_action"].tolist()) == {0}
    nvml.set_recovery_action(3, 2)  # NODE_REBOOT, delivered as an event and read by the next tick
    deadline = time.monotonic() + 5
    while not [e for e in events if e.kind == "recovery_action"] and time.monotonic() < deadline:
        time.sleep(0.01)
    nvml.advance()
    assert value(tick(src), 3, "recovery_action") == 2
    [event] = [e for e in events if e.kind == "recovery_action"]
    assert (event.gpu_index, event.recovery_action, event.severity) == (3, 2, "critical")
    assert "NODE_REBOOT" in event.detail and "(was NONE)" in event.detail
    nvml.set_recovery_action(3, 0)  # the node was rebooted: back to NONE, one more event
    nvml.advance()
    tick(src)
    deadline = time.monotonic() + 5
    while len([e for e in events if e.kind == "recovery_action"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.recovery_action for e in events if e.kind == "recovery_action"] == [2, 0]


def test_processes_list_every_gpu_asked(opened: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = opened
    frame = nvml.advance()
    nvml.set_unsupported(7, "nvmlDeviceGetComputeRunningProcesses_v3")
    [message] = src.processes(TS)
    assert message.gpus == list(range(7)) and message.ts_ms == TS
    busy = {g for g in range(7) if (value(frame, g, "mem_used_mib") or 0) > 512}
    assert busy  # the fleet's node has a job
    assert {p.gpu_index for p in message.processes} == busy
    assert len({p.pid for p in message.processes}) == len(message.processes)
