"""The command line as a user runs it: a fresh process each time."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from gpufleet.contract.schema import GpuProcesses, NodeSample
from storage.datadir import lock_data_dir
from tests.support.cli import run_cli
from tests.support.kafka_helpers import gpufleet


def assert_one_line_error(proc: object, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr  # type: ignore[attr-defined]
    err = proc.stderr.strip()  # type: ignore[attr-defined]
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--gpus", "0"], ["--gpus", "positive"]),
        (["--duration", "-5"], ["--duration", "'-5'"]),
        (["--gpus", "many"], ["--gpus", "'many'"]),
        (["--scenario", "volcano"], ["unknown scenario 'volcano'", "default, none"]),
    ],
)
def test_demo_bad_flags(args: list[str], needles: list[str], tmp_path: Path) -> None:
    assert_one_line_error(run_cli("demo", "--data-dir", str(tmp_path / "d"), *args), *needles)


def test_demo_malformed_scenario_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[fault]]\nkind = 'gpu_lost'\nat = 'soon'\n")
    assert_one_line_error(run_cli("demo", "--data-dir", str(tmp_path / "d"), "--scenario", str(bad)), "bad.toml", "'soon'")


def test_demo_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(run_cli("demo", "--data-dir", str(blocker / "data")), "cannot create data dir")


def test_demo_locked_data_dir(tmp_path: Path) -> None:
    locked = lock_data_dir(tmp_path / "busy")  # this test process holds it, like a running demo
    assert_one_line_error(run_cli("demo", "--data-dir", str(locked), "--duration", "1"), "in use by another gpufleet process")


def test_collect_once_prints_one_node_sample_and_its_processes() -> None:
    proc = run_cli("collect", "--source", "synthetic", "--once", "--node-id", "12")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    sample = NodeSample.model_validate_json(lines[0])
    assert sample.node == "node-00012" and [g.gpu_index for g in sample.gpus] == list(range(8))
    assert json.loads(lines[0])["schema"] == "gpufleet.node_sample/2"
    assert all(g.sm_active_pct is not None and g.recovery_action == 0 for g in sample.gpus)
    processes = GpuProcesses.model_validate_json(lines[1])
    assert processes.node == "node-00012" and processes.gpus == list(range(8))


def test_a_running_command_writes_every_threads_stack_on_sigusr1_and_carries_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ("--gpus", "64", "--duration", "10", "--data-dir", str(data_dir), "--no-report", "--format", "json")
    proc = gpufleet("demo", *args, env={}, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (data_dir / "store").exists() and time.monotonic() < deadline:  # main() runs: the store is open
            assert proc.popen.poll() is None, proc.stderr()
            time.sleep(0.1)
        stacks = proc.stacks(wait_s=10)
        assert "most recent call first" in stacks, stacks
        assert "gpufleet" in stacks and 'File "' in stacks, stacks  # its own frames, not just the interpreter's
        assert proc.wait(120) == 0, proc.stderr()  # it went on and finished the demo
        assert json.loads(proc.stdout())["totals"]["ticks"] >= 5
    finally:
        proc.popen.kill()


def test_collect_unknown_source() -> None:
    assert_one_line_error(run_cli("collect", "--source", "ipmi", "--once"), "unknown source 'ipmi'", "synthetic")


def test_demo_then_sql_db_and_named_queries(tmp_path: Path) -> None:
    data = tmp_path / "fleet"
    demo = run_cli("demo", "--gpus", "128", "--duration", "6", "--speed", "10", "--data-dir", str(data), "--format", "json")
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["totals"]["gpu_rows"] > 0 and summary["power"]["peak_megawatts"] > 0
    store = ["--store", f"chdb://{data}"]

    rows = run_cli("sql", *store, "--format", "csv", "SELECT count() AS n, uniqExact(uuid) AS gpus FROM gpu_samples")
    assert rows.returncode == 0, rows.stderr
    parsed = list(csv.DictReader(io.StringIO(rows.stdout)))
    assert int(parsed[0]["n"]) == summary["totals"]["gpu_rows"] and int(parsed[0]["gpus"]) == 128

    bound = run_cli(
        "sql",
        *store,
        "--format",
        "json",
        "--param",
        "n=node-00003",
        "SELECT DISTINCT node FROM gpu_samples WHERE node = {n:String}",
    )
    assert json.loads(bound.stdout) == [{"node": "node-00003"}]

    listing = run_cli("sql", "--list")
    assert "hottest_gpus" in listing.stdout and "fleet_power" in listing.stdout
    hottest = run_cli(
        "sql",
        *store,
        "--query",
        "hottest_gpus",
        "--format",
        "json",
        "--param",
        "from_ms=0",
        "--param",
        "to_ms=99999999999999",
        "--param",
        "limit=3",
    )
    assert len(json.loads(hottest.stdout)) == 3, hottest.stderr

    assert run_cli("db", "migrate", *store).stdout.strip() == "schema is up to date"
    assert "001_raw_tables: applied" in run_cli("db", "status", *store).stdout

    broken = run_cli("sql", *store, "SELEC nonsense")
    assert broken.returncode == 1 and "Syntax error" in broken.stderr and "Traceback" not in broken.stderr
