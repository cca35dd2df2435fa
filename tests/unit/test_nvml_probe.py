"""The hardware check (`scripts/gpu-check` → `collectors.nvml.probe`) run against the double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import collectors.nvml.double as nvml
from collectors.nvml import probe


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    nvml.reset()
    yield
    nvml.reset()


def test_probe_times_every_query_and_finds_nothing_suspect(tmp_path: Path) -> None:
    nvml.reset(gpus=2)
    nvml.set_unsupported(None, 82)
    code = probe.main(
        ["--module", "collectors.nvml.double", "--ticks", "3", "--json", str(tmp_path / "p.json"), "--markdown", str(tmp_path)]
    )
    assert code == 0
    page = (tmp_path / "nvidia-h100-80gb-hbm3.md").read_text()
    assert "| `mem_temp_c` | None |  | null: unsupported |" in page
    assert "`nvmlDeviceGetPcieThroughput(0)`" in page and "NOT_SUPPORTED" in page
    assert "field:185+186" in page  # the batched request, as a tick makes it


def test_verdicts() -> None:
    assert probe._verdict("gpu_temp_c", 45, [0])["ok"]
    assert not probe._verdict("gpu_temp_c", 150, [0])["ok"]
    assert probe._verdict("mem_temp_c", None, [3])["ok"]  # null because NVML said unsupported
    assert not probe._verdict("mem_temp_c", None, [0])["ok"]  # null although NVML answered
    assert probe._verdict("clocks_event_reasons", 1, [0])["verdict"] == "ok ['gpu_idle']"
