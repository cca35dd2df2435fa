"""`gpufleet jobs …` as processes: a hook outside slurmd still exits 0 and spools nothing, a
hook inside a Slurm-like environment spools one message, `forward` and `mapping` print the
wire messages, `sql --query job_*` answers on stored jobs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gpufleet.contract.jobs import JobAssignment
from tests.support.cli import run_cli


def test_hook_without_slurm_environment_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    done = run_cli("jobs", "slurm-prolog", "--spool", str(tmp_path / "spool"), env=env)
    assert done.returncode == 0
    assert not list(tmp_path.glob("spool/*.json"))


def test_hook_spools_and_forward_prints_it(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    env = {"SLURM_JOB_ID": "99", "SLURM_JOB_GPUS": "1,2", "SLURMD_NODENAME": "node-00003", "SLURM_JOB_USER": "carol",
           "SLURM_JOB_EXIT_CODE": "0", "GPUFLEET_CLUSTER": "c1"}  # fmt: skip
    assert run_cli("jobs", "slurm-epilog", "--spool", str(spool), env=env).returncode == 0
    (file,) = spool.glob("*.json")
    done = run_cli("jobs", "forward", "--spool", str(spool), "--once")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    message = JobAssignment.model_validate_json(line)
    assert (message.phase, message.job_id, message.cluster, message.node, message.user) == (
        "end",
        "99",
        "c1",
        "node-00003",
        "carol",
    )
    assert [g.gpu_index for g in message.gpus] == [1, 2]
    assert not file.exists()


def test_mapping_once_prints_starts(tmp_path: Path) -> None:
    (tmp_path / "3").write_text("555\n")
    done = run_cli("jobs", "mapping", "--dir", str(tmp_path), "--node", "node-00001", "--once")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["gpus"] == [{"gpu_index": 3, "uuid": None}]


def test_poll_picks_the_job_source_by_kind_from_the_registry(tmp_path: Path) -> None:
    (tmp_path / "5").write_text("777\n")
    done = run_cli("jobs", "poll", "--kind", "mapping", "--dir", str(tmp_path), "--node", "node-00002", "--once")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    message = json.loads(line)
    assert (message["job_id"], message["node"], message["gpus"]) == ("777", "node-00002", [{"gpu_index": 5, "uuid": None}])


def test_an_unknown_job_source_lists_the_valid_kinds_and_exits_2(tmp_path: Path) -> None:
    for args in (("jobs", "poll", "--kind", "pbs", "--once"), ("collect", "--source", "synthetic", "--jobs-source", "pbs")):
        done = run_cli(*args)
        assert done.returncode == 2 and done.stdout == "", args
        assert done.stderr.count("\n") == 1 and "'pbs'" in done.stderr, args
        assert all(kind in done.stderr for kind in ("kubelet", "mapping", "slurm")), done.stderr
