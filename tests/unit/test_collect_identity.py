"""`gpufleet collect`: nvml by default, and the node's labels from flags > env > settings file > hostname."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import collectors.nvml.double as nvml
from gpufleet.app.cli import main
from gpufleet.contract.schema import NodeSample

ONCE = ["collect", "--nvml-module", "collectors.nvml.double", "--once"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in ("FAIL_INIT", "XIDS", "MIG", "UNSUPPORTED", "GPUS", "SEED"):
        monkeypatch.delenv(f"GPUFLEET_NVML_DOUBLE_{name}", raising=False)
    for name in ("HALL", "ROW", "RACK", "NODE"):
        monkeypatch.delenv(f"GPUFLEET_NODE__{name}", raising=False)
    monkeypatch.delenv("GPUFLEET_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no gpufleet.toml of the repository's
    nvml.reset_to_env()
    yield monkeypatch
    nvml.reset()


def once(capsys: pytest.CaptureFixture[str], *flags: str) -> NodeSample:
    assert main([*ONCE, *flags]) == 0
    lines = capsys.readouterr().out.strip().splitlines()  # the node's sample, then its processes
    (sample,) = [line for line in lines if '"gpufleet.node_sample/' in line]
    return NodeSample.model_validate_json(sample)


def test_default_source_is_nvml_and_node_is_the_hostname(capsys: pytest.CaptureFixture[str]) -> None:
    sample = once(capsys)
    # the double's GPUs, not a synthetic node: the synthetic source names nodes node-NNNNN
    assert sample.node == socket.gethostname()
    assert (sample.hall, sample.row, sample.rack) == ("unknown", "unknown", "unknown")
    assert nvml.calls(0, "nvmlDeviceGetTemperature") >= 1


def use_config(env: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    """Write `text` as the collector's config file and point GPUFLEET_CONFIG at it."""
    config = tmp_path / "collector.toml"
    config.write_text(text)
    env.setenv("GPUFLEET_CONFIG", str(config))


def test_labels_flags_over_env_over_file(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_config(clean_env, tmp_path, 'cluster = "memphis"\n[node]\nhall = "hall-b"\nrack = "rack-file"\nrow = "row-file"\n')
    clean_env.setenv("GPUFLEET_NODE__RACK", "rack-env")
    clean_env.setenv("GPUFLEET_NODE__ROW", "row-env")
    sample = once(capsys, "--row", "row-flag")
    assert sample.cluster == "memphis"
    assert sample.hall == "hall-b"  # file
    assert sample.rack == "rack-env"  # env over file
    assert sample.row == "row-flag"  # flag over env
    assert sample.node == socket.gethostname()


def test_unknown_node_key_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_config(clean_env, tmp_path, '[node]\nrak = "typo"\n')
    assert main(ONCE) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'[node] rak'" in err and "expected one of hall, row, rack, node" in err
