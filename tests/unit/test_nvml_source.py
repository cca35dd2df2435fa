"""The NVML source against the pynvml double: values, tolerance rules, inventory, MIG.

The code under test is the real `collectors.nvml` path; only the module it imports is
the double (`SourceConfig.nvml_module`), whose values come from a synthetic-fleet tick.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest

import collectors.nvml.double as nvml
from collectors.base import SourceConfig, create_source
from collectors.nvml.source import NvmlSource
from gpufleet.contract.columns import METRIC_NAMES
from gpufleet.contract.errors import ConfigError, SourceUnavailable
from gpufleet.contract.frame import node_samples_from_frame
from gpufleet.contract.schema import GpuEvent, NodeSample
from tests.support.nvml_frames import TS, tick, value

DOUBLE = "collectors.nvml.double"
TOPOLOGY = {"cluster": "memphis", "hall": "hall-1", "row": "row-007", "rack": "rack-0042", "node": "node-00310"}

NOT_SUPPORTED, NO_PERMISSION, TIMEOUT, FUNCTION_NOT_FOUND, GPU_IS_LOST, UNKNOWN = 3, 4, 10, 13, 15, 999


@pytest.fixture
def double() -> Iterator[ModuleType]:
    nvml.reset()  # deterministic: no auto-advance, fleet seed 0, 8 GPUs
    yield nvml
    nvml.reset()


def open_source(topology: dict[str, str] | None = None) -> tuple[NvmlSource, list[GpuEvent]]:
    events: list[GpuEvent] = []
    # a long interval keeps the slow-read refresher idle: tests refresh it explicitly;
    # a short event wait keeps close() quick
    config = SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0, topology=topology or TOPOLOGY)
    source = NvmlSource(config, event_wait_ms=20)
    source.open(events.append)
    return source, events


def test_the_registry_builds_the_nvml_source(double: ModuleType) -> None:
    source = create_source(SourceConfig(kind="nvml", nvml_module=DOUBLE, topology=TOPOLOGY))
    assert isinstance(source, NvmlSource)
    assert source.labels == TOPOLOGY


@pytest.fixture
def source(double: ModuleType) -> Iterator[tuple[NvmlSource, list[GpuEvent]]]:
    src, events = open_source()
    yield src, events
    src.close()


def test_values_match_what_the_fleet_produced(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    expected = nvml.advance()
    frame = tick(src)
    assert len(frame) == 8
    assert frame.gpu_index.tolist() == list(range(8))
    assert frame.labels["uuid"].to_list() == expected.labels["uuid"].to_list()
    assert frame.nulls == {}  # the double supports every field on a non-MIG GPU
    for name in METRIC_NAMES:
        assert frame.metrics[name].dtype == expected.metrics[name].dtype, name
        np.testing.assert_array_equal(frame.metrics[name], expected.metrics[name], err_msg=name)
    assert set(frame.ts_ms.tolist()) == {TS}
    for label, text in TOPOLOGY.items():
        assert frame.label_list(label) == [text] * 8


def test_frame_becomes_a_valid_node_sample(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    first, second = tick(src, TS), tick(src, TS + 1000)
    [message] = node_samples_from_frame(second)
    again = NodeSample.model_validate_json(message.model_dump_json())
    assert again.node == "node-00310" and len(again.gpus) == 8
    assert (int(first.seq[0]), int(second.seq[0])) == (0, 1)


def test_field_ids_are_read_in_one_batch_per_gpu_per_tick(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    before = [nvml.calls(g, "nvmlDeviceGetFieldValues") for g in range(8)]
    src.sample(TS)  # the tick alone: the slow reads run on the refresher
    after = [nvml.calls(g, "nvmlDeviceGetFieldValues") for g in range(8)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1] * 8
    assert nvml.calls(0, "nvmlDeviceGetPcieThroughput") == 2  # only the refresher's sweep at open


def test_unsupported_field_is_null_and_not_asked_again(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    nvml.set_unsupported(2, 82)  # HBM temperature on GPU 2
    first = tick(src)
    asked = nvml.calls(2, 82)
    second = tick(src)
    assert value(first, 2, "mem_temp_c") is None and value(second, 2, "mem_temp_c") is None
    assert nvml.calls(2, 82) == asked  # cached per device: not asked again
    assert value(second, 3, "mem_temp_c") is not None  # other GPUs unaffected


def test_unsupported_read_falls_back_to_the_next_source_in_the_same_tick(
    source: tuple[NvmlSource, list[GpuEvent]],
) -> None:
    src, _ = source
    nvml.set_unsupported(None, 185)  # no average-power field: nvmlDeviceGetPowerUsage instead
    expected = nvml.advance()
    frame = tick(src)
    np.testing.assert_array_equal(frame.metrics["power_mw"], expected.metrics["power_mw"])
    assert "power_mw" not in frame.nulls
    assert nvml.calls(0, "nvmlDeviceGetPowerUsage") == 1


def test_function_not_found_is_cached_like_not_supported(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    nvml.fail_next(5, "nvmlDeviceGetPerformanceState", FUNCTION_NOT_FOUND)
    first, second = tick(src), tick(src)
    assert value(first, 5, "pstate") is None and value(second, 5, "pstate") is None
    assert nvml.calls(5, "nvmlDeviceGetPerformanceState") == 1
    assert value(second, 4, "pstate") == 0


@pytest.mark.parametrize("code", [NO_PERMISSION, TIMEOUT, UNKNOWN])
@pytest.mark.parametrize(("key", "column"), [("nvmlDeviceGetTemperature", "gpu_temp_c"), (82, "mem_temp_c")])
def test_transient_error_nulls_one_field_for_one_tick(
    source: tuple[NvmlSource, list[GpuEvent]], code: int, key: int | str, column: str
) -> None:
    src, events = source
    nvml.fail_next(1, key, code)
    first = tick(src)
    assert value(first, 1, column) is None
    assert first.nulls[column].sum() == 1  # that GPU, that field only
    assert value(first, 1, "power_mw") is not None
    second = tick(src)
    assert value(second, 1, column) is not None  # asked again and answered
    assert events == []


def test_lost_gpu_emits_one_event_and_the_others_go_on(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = source
    nvml.lose_gpu(3, xid=False)
    frame = tick(src)
    assert frame.gpu_index.tolist() == [0, 1, 2, 4, 5, 6, 7]
    [lost] = [e for e in events if e.kind == "gpu_lost"]
    assert (lost.gpu_index, lost.severity) == (3, "critical")
    assert lost.uuid == src.gpus[3].uuid and lost.node == "node-00310"
    assert "GPU is lost" in lost.detail
    asked = sum(nvml.state().calls[k] for k in nvml.state().calls if k[0] == 3)
    again = tick(src)
    assert len(again) == 7
    assert sum(nvml.state().calls[k] for k in nvml.state().calls if k[0] == 3) == asked  # stopped asking
    assert len([e for e in events if e.kind == "gpu_lost"]) == 1


def test_gpu_is_lost_in_one_field_of_the_batch_loses_the_gpu(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = source
    nvml.fail_next(6, 82, GPU_IS_LOST)
    frame = tick(src)
    assert 6 not in frame.gpu_index.tolist() and len(frame) == 7
    assert [e.gpu_index for e in events if e.kind == "gpu_lost"] == [6]


def test_driver_reload_reinitialises_and_rechecks_unsupported(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, events = source
    nvml.set_unsupported(0, 82)
    assert value(tick(src), 0, "mem_temp_c") is None
    nvml.lose_gpu(7, xid=False)
    assert len(tick(src)) == 7
    nvml.driver_reload()  # handles go stale, NVML is uninitialised, GPU 7 is reset
    nvml.set_supported(0, 82)  # e.g. the new driver reports HBM temperature
    frame = src.sample(TS + 2000)
    assert src.reinits == 1
    assert len(frame) == 8  # the lost GPU came back with the reload
    assert value(frame, 0, "mem_temp_c") is not None  # re-checked after the re-init
    assert src.listener is not None and src.listener.running
    nvml.inject_xid(2, 31)
    assert _wait_for(events, lambda e: e.kind == "xid" and e.xid == 31)


def test_failed_reinit_is_retried_at_the_next_tick(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    nvml.driver_reload()
    nvml.fail_init(9)  # the driver is not back yet
    assert len(src.sample(TS)) == 0
    assert len(src.sample(TS + 1000)) == 0
    nvml.fail_init(None)
    assert len(src.sample(TS + 2000)) == 8
    assert src.reinits == 1


def test_nvml_unavailable_at_start_is_source_unavailable(double: ModuleType) -> None:
    nvml.reset(fail_init=9)
    src = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE))
    with pytest.raises(SourceUnavailable, match=r"^NVML not available: Driver Not Loaded") as info:
        src.open(lambda e: None)
    assert info.value.exit_code == 2
    src.close()  # safe after a failed open


def test_no_gpus_is_source_unavailable_and_leaves_no_thread(double: ModuleType) -> None:
    import threading

    nvml.reset(gpus=0)
    before = {t.name for t in threading.enumerate()}
    src = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE))
    with pytest.raises(SourceUnavailable, match="no NVIDIA GPUs found"):
        src.open(lambda e: None)
    assert src.refresher is None and src.listener is None
    assert {t.name for t in threading.enumerate()} - before == set()


def test_missing_nvml_module_is_source_unavailable() -> None:
    src = NvmlSource(SourceConfig(kind="nvml", nvml_module="gpufleet_no_such_nvml_binding"))
    with pytest.raises(SourceUnavailable, match="NVML not available: cannot import 'gpufleet_no_such_nvml_binding'"):
        src.open(lambda e: None)


def test_mig_gpu_has_null_utilization_and_mig_mode_in_inventory(double: ModuleType) -> None:
    nvml.reset(mig=[1])
    src, _ = open_source()
    try:
        frame = tick(src)
        inventory = src.inventory()
    finally:
        src.close()
    assert [i.mig_mode for i in inventory] == [False, True, False, False, False, False, False, False]
    assert value(frame, 1, "util_gpu_pct") is None and value(frame, 1, "util_mem_pct") is None
    assert nvml.calls(1, "nvmlDeviceGetUtilizationRates") == 0  # not even asked under MIG
    assert value(frame, 0, "util_gpu_pct") is not None
    assert value(frame, 1, "power_mw") is not None and value(frame, 1, "remapped_rows_correctable") is None


def test_inventory_is_read_from_the_devices(source: tuple[NvmlSource, list[GpuEvent]]) -> None:
    src, _ = source
    got = src.inventory()
    want = nvml.state().fleet.inventory()
    assert len(got) == 8
    for g, w in zip(got, want, strict=True):
        for name in ("gpu_index", "uuid", "serial", "model", "pci_bus_id", "driver_version", "cuda_version"):
            assert getattr(g, name) == getattr(w, name), name
        for name in ("vbios_version", "mem_total_mib", "power_limit_default_mw", "power_limit_min_mw"):
            assert getattr(g, name) == getattr(w, name), name
        for name in ("power_limit_max_mw", "temp_shutdown_c", "temp_slowdown_c", "temp_gpu_max_c", "temp_mem_max_c"):
            assert getattr(g, name) == getattr(w, name), name
        assert (g.cluster, g.rack, g.node) == ("memphis", "rack-0042", "node-00310")


def test_node_defaults_to_the_hostname(double: ModuleType) -> None:
    src, _ = open_source(topology={"cluster": "memphis"})
    try:
        frame = src.sample(TS)
    finally:
        src.close()
    assert frame.label_list("node") == [socket.gethostname()] * 8
    assert frame.label_list("rack") == ["unknown"] * 8


def test_unknown_topology_label_is_a_config_error(double: ModuleType) -> None:
    with pytest.raises(ConfigError, match="unknown topology labels"):
        NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, topology={"datacenter": "x"}))


def _wait_for(events: list[GpuEvent], match: object, timeout_s: float = 2.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(match(e) for e in events):  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False
