"""A bad setting, from the environment, a TOML file or a flag: one line naming it and its
expected form, exit 2, no traceback (`gpufleet` as a user runs it, a fresh process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli


def one_line_exit_2(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = run_cli(*args, env=env, cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env", "named", "expected"),
    [
        ({"GPUFLEET_KAFKA": "host:port"}, "GPUFLEET_KAFKA='host:port'", "GPUFLEET_KAFKA__BOOTSTRAP=host:port"),
        ({"GPUFLEET_LOG_LEVEL": "verbose"}, "GPUFLEET_LOG_LEVEL='verbose'", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"GPUFLEET_RAW_TTL_DAYS": "two weeks"}, "GPUFLEET_RAW_TTL_DAYS='two weeks'", "GPUFLEET_RAW_TTL_DAYS=<int>"),
        ({"GPUFLEET_KAFKA__SECURITY_PROTOCOL": "TLS"}, "GPUFLEET_KAFKA__SECURITY_PROTOCOL='TLS'", "one of PLAINTEXT, SSL"),
        ({"GPUFLEET_MQTT": "mqtt://x"}, "GPUFLEET_MQTT='mqtt://x'", "GPUFLEET_MQTT__URL="),
        ({"GPUFLEET_MAX_CLOCK_AHEAD_S": "-5"}, "GPUFLEET_MAX_CLOCK_AHEAD_S='-5'", "greater than 0"),
    ],
)
def test_a_bad_environment_variable_is_named_with_its_expected_form(
    env: dict[str, str], named: str, expected: str, tmp_path: Path
) -> None:
    for args in (["db", "status"], ["ingest", "--kafka", "127.0.0.1:1"]):
        line = one_line_exit_2(args, env, tmp_path)
        assert line.startswith("gpufleet: error: invalid setting ") and named in line and expected in line, line


def test_a_bad_toml_key_or_value_is_named_with_its_file(tmp_path: Path) -> None:
    config = tmp_path / "gpufleet.toml"
    config.write_text('[kafka]\nbootstrapp = "k:9092"\n')
    line = one_line_exit_2(["db", "status"], {"GPUFLEET_CONFIG": str(config)}, tmp_path)
    assert "unknown setting '[kafka] bootstrapp'" in line and str(config) in line and "bootstrap, security_protocol" in line
    config.write_text('raw_ttl_days = "fortnight"\n')
    line = one_line_exit_2(["db", "status"], {"GPUFLEET_CONFIG": str(config)}, tmp_path)
    assert "raw_ttl_days = 'fortnight'" in line and str(config) in line and "GPUFLEET_RAW_TTL_DAYS=<int>" in line
    config.write_text("colour = 'blue'\n")
    line = one_line_exit_2(["db", "status"], {}, tmp_path)  # gpufleet.toml in the working directory
    assert "unknown setting 'colour' in gpufleet.toml" in line and "raw_ttl_days" in line


def test_a_bad_flag_is_one_line(tmp_path: Path) -> None:
    line = one_line_exit_2(["ingest", "--max-wait", "soon"], {}, tmp_path)
    assert "--max-wait" in line and "'soon'" in line
    line = one_line_exit_2(["ingest", "--max-batch-messages", "0"], {}, tmp_path)
    assert "--max-batch-messages" in line and "positive" in line
