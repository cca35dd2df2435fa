"""Job sources without components: the Slurm hook's environment, its never-fail rule, the
reconciler's view-to-message logic on recorded `squeue --json` shapes, the spool and the
dcgm-exporter mapping folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.jobs.mapping import MappingJobs, read_mapping
from collectors.jobs.slurm import Reconciler, from_hook_env, parse_indices, parse_squeue, run_hook
from collectors.jobs.spool import Spool
from gpufleet.contract.jobs import JobAssignment, JobGpu

ENV = {  # what slurmd gave a 4-GPU job's Prolog here (shared/reference/jobs-slurm-and-kubelet.md)
    "SLURM_JOB_ID": "4711", "SLURM_JOB_USER": "alice", "SLURM_JOB_PARTITION": "gpu", "SLURMD_NODENAME": "node1",
    "SLURM_JOB_GPUS": "0,1,2,3", "CUDA_VISIBLE_DEVICES": "0,1,2,3", "SLURM_SCRIPT_CONTEXT": "prolog_slurmd",
}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [("0,1,2,3", [0, 1, 2, 3]), ("0-3", [0, 1, 2, 3]), ("0-1,6", [0, 1, 6]), ("", [])])
def test_gpu_index_lists(text: str, expected: list[int]) -> None:
    assert parse_indices(text) == expected


def test_bad_index_list_raises() -> None:
    with pytest.raises(ValueError):
        parse_indices("0,x")


def test_prolog_environment_becomes_a_start() -> None:
    m = from_hook_env(ENV, "start", "colossus", None, 1_000)
    assert (m.phase, m.job_id, m.user, m.partition, m.node, m.cluster) == ("start", "4711", "alice", "gpu", "node1", "colossus")
    assert [g.gpu_index for g in m.gpus] == [0, 1, 2, 3]
    end = from_hook_env({**ENV, "SLURM_JOB_EXIT_CODE2": "3:0"}, "end", "colossus", "node-00001", 2_000)
    assert (end.phase, end.exit_code, end.state, end.node) == ("end", 3, "FAILED", "node-00001")


def test_the_hook_exits_0_when_anything_fails(tmp_path: Path) -> None:
    got: list[JobAssignment] = []
    assert run_hook("start", got.append, "c", None, env={}) == 0  # not run by slurmd: nothing to say
    assert got == []

    def broken(_m: JobAssignment) -> None:
        raise OSError("spool on a full disk")

    assert run_hook("start", broken, "c", None, env=ENV) == 0

    def hangs(_m: JobAssignment) -> None:
        time.sleep(30)

    started = time.monotonic()
    assert run_hook("start", hangs, "c", None, env=ENV, timeout_s=0.2) == 0
    assert time.monotonic() - started < 5  # bounded: the job is not held


def _squeue(state: str, gres: list[str], start: int = 1_796_162_057, end: int = 1_827_698_057) -> dict[str, Any]:
    return {"jobs": [{
        "job_id": 7, "job_state": state, "user_name": "bob", "account": "ml", "partition": "debug", "name": "train",
        "start_time": start, "end_time": end, "gres_detail": gres,
        "job_resources": {"allocated_nodes": [{"nodename": "a"}, {"nodename": "b"}]},
    }]}  # fmt: skip


def test_reconciler_publishes_a_start_per_node_and_heals_the_end() -> None:
    r = Reconciler("colossus", node_label=lambda n: f"node-{n}")
    starts = r.observe(parse_squeue(_squeue("RUNNING", ["gpu:2(IDX:0-1)", "gpu:4(IDX:4-7)"])), 5)
    assert [(m.node, [g.gpu_index for g in m.gpus], m.ts_ms) for m in starts] == [
        ("node-a", [0, 1], 1_796_162_057_000), ("node-b", [4, 5, 6, 7], 1_796_162_057_000)]  # fmt: skip
    assert r.observe(parse_squeue(_squeue("RUNNING", ["gpu:2(IDX:0-1)", "gpu:4(IDX:4-7)"])), 6) == []
    ends = r.observe(parse_squeue(_squeue("NODE_FAIL", [], end=1_796_162_999)), 7)  # the Epilog never ran
    assert [(m.phase, m.node, m.state, m.ts_ms, m.start_ms) for m in ends] == [
        ("end", "node-a", "NODE_FAIL", 1_796_162_999_000, 1_796_162_057_000),
        ("end", "node-b", "NODE_FAIL", 1_796_162_999_000, 1_796_162_057_000)]  # fmt: skip
    assert r.observe(parse_squeue({"jobs": []}), 8) == []


def test_reconciler_ends_a_job_that_vanished_and_remembers_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    Reconciler("c", state_file=state).observe(parse_squeue(_squeue("RUNNING", ["gpu:1(IDX:3)"])), 5)
    again = Reconciler("c", state_file=state)  # a restarted reconciler
    (end,) = again.observe(parse_squeue({"jobs": []}), 9_000_000_000_000)
    assert (end.phase, end.node, end.ts_ms) == ("end", "a", 9_000_000_000_000)


def test_spool_round_trip_and_rejects(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    message = from_hook_env(ENV, "start", "c", None, 1_000)
    spool.put(message)
    (tmp_path / "spool" / "0000000000001-bad.json").write_text('{"schema": "gpufleet.job_assignment/1"}')

    class Recorder:
        def __init__(self) -> None:
            self.jobs: list[JobAssignment] = []

        def publish_jobs(self, jobs: Any) -> None:
            self.jobs += jobs

        def flush(self, timeout_s: float) -> None:
            pass

    out = Recorder()
    assert spool.forward(out) == 1 and out.jobs == [message]
    assert spool.stats.rejected == 1 and (tmp_path / "spool/rejected/0000000000001-bad.json.reason").exists()
    assert spool.forward(out) == 0  # forwarded files are gone


def test_mapping_folder_files_per_gpu(tmp_path: Path) -> None:
    for name, text in (("0", "17\n"), ("1", "17\n"), ("2.1", "18\n19\n"), ("notes", "x\n")):
        (tmp_path / name).write_text(text)
    assert read_mapping(tmp_path) == {"17": {0, 1}, "18": {2}, "19": {2}}
    source = MappingJobs(tmp_path, "c", "n")
    assert sorted((m.job_id, m.phase) for m in source.poll(1)) == [("17", "start"), ("18", "start"), ("19", "start")]
    (tmp_path / "2.1").write_text("19\n")
    (end,) = source.poll(2)
    assert (end.job_id, end.phase, end.start_ms) == ("18", "end", 1)


def test_contract_rejects_a_start_without_gpus_and_duplicate_indices() -> None:
    base = {"ts_ms": 1, "phase": "start", "source": "slurm", "cluster": "c", "node": "n", "job_id": "1"}
    with pytest.raises(ValidationError, match="no GPUs"):
        JobAssignment.model_validate(base)
    with pytest.raises(ValidationError, match="duplicate gpu_index"):
        JobAssignment.model_validate({**base, "gpus": [JobGpu(gpu_index=1), JobGpu(gpu_index=1)]})
    with pytest.raises(ValidationError, match="before its start_ms"):
        JobAssignment.model_validate({**base, "phase": "end", "start_ms": 5})


def test_job_sources_are_a_registry_and_an_unknown_kind_names_the_valid_ones(tmp_path: Path) -> None:
    from collectors.jobs.registry import JOB_SOURCES, JobSourceConfig, create_job_source
    from gpufleet.contract.errors import ConfigError

    assert list(JOB_SOURCES) == ["kubelet", "mapping", "slurm"]
    with pytest.raises(ConfigError, match=r"unknown job source 'pbs': use one of kubelet, mapping, slurm"):
        create_job_source(JobSourceConfig("pbs", "c1", "n1"))
    with pytest.raises(ConfigError, match="needs its folder"):
        create_job_source(JobSourceConfig("mapping", "c1", "n1"))
    (tmp_path / "2").write_text("41\n")
    poll = create_job_source(JobSourceConfig("mapping", "c1", "n1", mapping_dir=tmp_path))
    (start,) = poll(1_000)
    assert (start.phase, start.job_id, [g.gpu_index for g in start.gpus]) == ("start", "41", [2])
