"""`gpufleet collect --source nvml` end to end, with the NVML double selected by flag.

The double is configured through GPUFLEET_NVML_DOUBLE_* variables, as a fresh CLI
process would be (`reset_to_env` makes the in-process double re-read them).
"""

from __future__ import annotations

import json

import pytest

from gpufleet.app.cli import main
from gpufleet.contract.columns import GPM_COLUMNS
from gpufleet.contract.schema import GpuEvent, GpuInventory, GpuProcesses, NodeSample

NVML = ["collect", "--source", "nvml", "--nvml-module", "collectors.nvml.double"]


pytestmark = pytest.mark.usefixtures("double_env")  # every test starts from the double's defaults


def test_once_prints_one_node_sample(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_UNSUPPORTED", "*:82,3:nvmlDeviceGetPerformanceState")
    assert main([*NVML, "--once", "--rack", "rack-0042", "--node", "node-00310"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    sample = NodeSample.model_validate_json(lines[0])
    assert (sample.rack, sample.node) == ("rack-0042", "node-00310")
    assert [g.gpu_index for g in sample.gpus] == list(range(8))
    raw = json.loads(lines[0])["gpus"]
    assert all(g["mem_temp_c"] is None for g in raw)  # unsupported: JSON null, never 0
    assert raw[3]["pstate"] is None and raw[2]["pstate"] == 0
    first = sample.gpus[0]
    assert first.power_mw is not None and 20_000 <= first.power_mw <= 700_000  # mW, NVML's unit
    assert first.mem_total_mib == 81559 and first.energy_mj is not None
    # GPM activity (two samples: one at open, one at the tick) and the recovery action
    assert all(g[c] is not None for g in raw for c in GPM_COLUMNS)
    assert all(0 <= g["sm_active_pct"] <= 100 for g in raw) and all(g["recovery_action"] == 0 for g in raw)
    processes = GpuProcesses.model_validate_json(lines[1])
    assert processes.node == "node-00310" and processes.gpus == list(range(8))
    assert all(p.pid > 0 and p.used_mem_mib and p.gpu_instance_id is None for p in processes.processes)


def test_once_without_gpm_prints_null_activity(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_UNSUPPORTED", "1:nvmlGpmQueryDeviceSupport,2:gpm:7,*:230")
    assert main([*NVML, "--once"]) == 0
    raw = json.loads(capsys.readouterr().out.splitlines()[0])["gpus"]
    assert all(raw[1][c] is None for c in GPM_COLUMNS)  # no GPM on this GPU: null, never 0
    assert raw[2]["hmma_active_pct"] is None and raw[2]["sm_active_pct"] is not None  # one metric unsupported
    assert all(g["recovery_action"] is None for g in raw)  # a driver before r570


def test_inventory_prints_the_gpus(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_MIG", "2")
    assert main([*NVML, "--inventory"]) == 0
    inventory = [GpuInventory.model_validate(i) for i in json.loads(capsys.readouterr().out)]
    assert [i.gpu_index for i in inventory] == list(range(8))
    assert [i.mig_mode for i in inventory].count(True) == 1 and inventory[2].mig_mode
    assert {i.model for i in inventory} == {"NVIDIA H100 80GB HBM3"}
    assert all(i.temp_slowdown_c == 89 and i.power_limit_max_mw == 700_000 for i in inventory)


def test_events_for_prints_xids_as_json_lines(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_XIDS", "3:48,5:79")
    assert main([*NVML, "--events-for", "0.5", "--interval", "0.5"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    events = [GpuEvent.model_validate_json(line) for line in lines]
    xids = sorted((e.gpu_index, e.xid) for e in events if e.kind == "xid")
    assert xids == [(3, 48), (5, 79)]
    assert all(e.detail for e in events if e.kind == "xid")


def test_events_for_prints_recovery_actions_with_the_uuid(
    capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch
) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_RECOVERY", "4:4")
    assert main([*NVML, "--events-for", "0.5", "--interval", "0.5"]) == 0
    events = [GpuEvent.model_validate_json(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    [recovery] = [e for e in events if e.kind == "recovery_action"]  # the event and the field read: one change
    assert (recovery.gpu_index, recovery.recovery_action, recovery.severity) == (4, 4, "critical")
    assert recovery.uuid and recovery.uuid.startswith("GPU-")
    assert "DRAIN_AND_RESET" in recovery.detail and "drain" in recovery.detail


def test_nvml_unavailable_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str], double_env: pytest.MonkeyPatch) -> None:
    double_env.setenv("GPUFLEET_NVML_DOUBLE_FAIL_INIT", "DRIVER_NOT_LOADED")
    assert main([*NVML, "--once"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "NVML not available: Driver Not Loaded" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_missing_nvml_library_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--source", "nvml", "--nvml-module", "gpufleet_no_nvml_here", "--inventory"]) == 2
    assert "NVML not available" in capsys.readouterr().err
