"""XID events: delivered from the NVML event thread as they happen, with the catalog's meaning."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import collectors.nvml.double as nvml
from collectors.base import SourceConfig
from collectors.nvml.source import NvmlSource
from gpufleet.contract.schema import GpuEvent

DOUBLE = "collectors.nvml.double"


class Recorder:
    """Collects events from the listener thread; `wait(n)` blocks until n have arrived."""

    def __init__(self) -> None:
        self.events: list[GpuEvent] = []
        self.arrived: list[float] = []
        self._cond = threading.Condition()

    def __call__(self, event: GpuEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.arrived.append(time.monotonic())
            self._cond.notify_all()

    def wait(self, n: int, timeout_s: float = 2.0) -> list[GpuEvent]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= n, timeout_s)
            return list(self.events)


@pytest.fixture
def opened() -> Iterator[tuple[NvmlSource, Recorder]]:
    nvml.reset()
    recorder = Recorder()
    src = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=50)
    src.open(recorder)
    yield src, recorder
    src.close()
    nvml.reset()


def test_xid_arrives_without_a_tick_with_catalog_meaning(opened: tuple[NvmlSource, Recorder]) -> None:
    src, rec = opened
    sent = time.monotonic()
    before_ms = time.time_ns() // 1_000_000
    nvml.inject_xid(5, 48)
    [event] = rec.wait(1)
    assert rec.arrived[0] - sent < 0.5  # no sample() was called: the thread delivered it
    assert (event.kind, event.xid, event.gpu_index, event.severity) == ("xid", 48, 5, "critical")
    assert event.uuid == src.gpus[5].uuid
    assert "GPU_ECC_DBE" in event.detail and "Double-bit ECC" in event.detail and "RESET_GPU" in event.detail
    assert before_ms <= event.ts_ms <= time.time_ns() // 1_000_000


def test_every_repeat_of_an_xid_is_its_own_event(opened: tuple[NvmlSource, Recorder]) -> None:
    _, rec = opened
    for _ in range(3):
        nvml.inject_xid(2, 13)
    events = rec.wait(3)
    assert [(e.xid, e.gpu_index) for e in events] == [(13, 2)] * 3
    assert {e.severity for e in events} == {"warning"}


def test_xid_missing_from_the_catalog_still_arrives(opened: tuple[NvmlSource, Recorder]) -> None:
    _, rec = opened
    nvml.inject_xid(0, 999)
    [event] = rec.wait(1)
    assert event.xid == 999 and "UNKNOWN_XID" in event.detail and event.severity == "warning"


def test_xid_79_then_the_gpu_is_lost(opened: tuple[NvmlSource, Recorder]) -> None:
    src, rec = opened
    nvml.lose_gpu(4)  # XID 79 through the event set, then GPU_IS_LOST on every call
    [xid] = rec.wait(1)
    assert xid.xid == 79 and "fell off the bus" in xid.detail
    frame = src.sample(0)
    assert 4 not in frame.gpu_index.tolist()
    kinds = [(e.kind, e.gpu_index) for e in rec.wait(2)]
    assert kinds == [("xid", 4), ("gpu_lost", 4)]


def test_xids_queued_before_registration_are_delivered() -> None:
    nvml.reset(xids=[(1, 31), (6, 94)])  # what GPUFLEET_NVML_DOUBLE_XIDS sets up for the CLI
    rec = Recorder()
    src = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=50)
    src.open(rec)
    try:
        events = rec.wait(2)
    finally:
        src.close()
        nvml.reset()
    assert sorted((e.gpu_index, e.xid) for e in events) == [(1, 31), (6, 94)]


def test_close_stops_the_listener_promptly(opened: tuple[NvmlSource, Recorder]) -> None:
    src, _ = opened
    listener = src.listener
    assert listener is not None and listener.running and listener.registered == list(range(8))
    started = time.monotonic()
    src.close()
    assert time.monotonic() - started < 0.5
    assert not listener.running
    src.close()  # twice is fine


def test_a_failing_callback_does_not_stop_delivery() -> None:
    nvml.reset()
    seen: list[int] = []

    def flaky(event: GpuEvent) -> None:
        seen.append(event.xid or 0)
        if len(seen) == 1:
            raise RuntimeError("publisher hiccup")

    src = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=50)
    src.open(flaky)
    try:
        nvml.inject_xid(0, 43)
        nvml.inject_xid(0, 45)
        deadline = time.monotonic() + 2.0
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        src.close()
        nvml.reset()
    assert seen == [43, 45]
