"""A real Slurm (Debian's slurmctld, slurmd, munge on loopback, 8 GRES GPUs) running real
`sbatch` jobs with the project's Prolog/Epilog (deploy/slurm/*.sh) installed: the spooled
messages go through ingest into chDB and become intervals on the GPU indices Slurm gave
each job; the reconciler closes the interval of a job whose Epilog was deliberately skipped."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.jobs.slurm import Reconciler, parse_squeue
from collectors.jobs.spool import Spool
from pipeline.ingest import Ingest
from pipeline.memory import MemoryBroker
from storage.clickhouse import ClickHouseStore
from tests.support.cli import REPO
from tests.support.slurm import SlurmCluster

pytestmark = pytest.mark.slow
NODE = "node1"


def _hook(template: str, root: Path, skip_folder: Path | None = None) -> str:
    text = (REPO / "deploy/slurm" / template).read_text()
    text = re.sub(r"^GPUFLEET=.*$", f"GPUFLEET={Path(sys.executable).parent / 'gpufleet'}", text, flags=re.M)
    text = re.sub(r"^SPOOL=.*$", f"SPOOL={root / 'jobspool'}", text, flags=re.M)
    text = re.sub(r"^LOG=.*$", f"LOG={root / 'log/hooks.log'}", text, flags=re.M)
    if skip_folder is not None:  # the test marks a job whose Epilog must not run, as if slurmd had died
        text = text.replace("#!/bin/sh\n", f'#!/bin/sh\n[ -e "{skip_folder}/$SLURM_JOB_ID" ] && exit 0\n', 1)
    return text


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    root = tmp_path_factory.mktemp("slurm")
    (root / "skip").mkdir()
    cluster = SlurmCluster(root, _hook("prolog.sh", root), _hook("epilog.sh", root, root / "skip"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _ingest(spool: Spool, store: ClickHouseStore) -> int:
    broker = MemoryBroker()
    sent = spool.forward(broker, flush_timeout_s=0)
    ingest = Ingest(broker, store)
    while broker.backlog:
        ingest.step(timeout_s=0.1)
    return sent


def _intervals(store: ClickHouseStore, job_id: str) -> list[tuple[Any, ...]]:
    return store.query(
        "SELECT node, gpu_index, toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts), user, partition, state,"
        " exit_code FROM gpu_job_intervals WHERE job_id = {j:String} ORDER BY gpu_index",
        {"j": job_id},
    ).rows


def _gpus_while_running(slurm: SlurmCluster, job_id: str) -> list[int]:
    slurm.wait_state(job_id, {"RUNNING"})
    (job,) = [j for j in parse_squeue(slurm.squeue_json()) if j.job_id == job_id]
    return job.gpus_by_node[NODE]


def test_prolog_and_epilog_make_intervals_on_the_gpus_slurm_allocated(slurm: SlurmCluster, store: ClickHouseStore) -> None:
    spool = Spool(slurm.root / "jobspool")
    before_ms = int(time.time() * 1000)
    four = slurm.sbatch("--gpus=4", "--wrap", "sleep 3")
    two = slurm.sbatch("--gres=gpu:2", "--wrap", "sleep 2; exit 3")
    queued = slurm.sbatch("--gpus=4", "--wrap", "sleep 1")  # 4 + 2 + 4 > 8: waits for the first
    gpus_four, gpus_two = _gpus_while_running(slurm, four), _gpus_while_running(slurm, two)
    gpus_queued = _gpus_while_running(slurm, queued)
    for job in (four, two, queued):
        slurm.wait_state(job, {"COMPLETED", "FAILED", "GONE"})
    time.sleep(1.0)  # the Epilog runs as the job completes
    assert _ingest(spool, store) == 6, (slurm.root / "log/hooks.log").read_text()[-2000:]

    assert len(gpus_four) == 4 and len(gpus_two) == 2 and not set(gpus_four) & set(gpus_two)
    rows = _intervals(store, four)
    assert [r[1] for r in rows] == gpus_four  # the indices slurmd put in SLURM_JOB_GPUS
    for node, _, start, end, user, partition, state, exit_code in rows:
        assert node == NODE and user == "root" and partition == "debug"
        assert before_ms <= start < end and end - start >= 2_500  # it slept 3 s
        assert (state, exit_code) == ("COMPLETED", 0)
    failed = _intervals(store, two)
    assert [r[1] for r in failed] == gpus_two
    assert {(r[6], r[7]) for r in failed} == {("FAILED", 3)}
    later = _intervals(store, queued)
    assert [r[1] for r in later] == gpus_queued
    # The queued job could only start once the first one released its GPUs.
    assert min(r[2] for r in later) >= max(r[3] for r in rows) - 1000


def test_reconciler_closes_the_interval_of_a_job_whose_epilog_never_ran(slurm: SlurmCluster, store: ClickHouseStore) -> None:
    spool = Spool(slurm.root / "jobspool")
    reconciler = Reconciler("colossus")
    reconciler.observe(parse_squeue(slurm.squeue_json()), int(time.time() * 1000))  # what runs already is known
    job = slurm.sbatch("--gpus=3", "--wrap", "sleep 3")
    (slurm.root / "skip" / job).touch()
    gpus = _gpus_while_running(slurm, job)
    seen = reconciler.observe(parse_squeue(slurm.squeue_json()), int(time.time() * 1000))
    assert [(m.phase, m.job_id, [g.gpu_index for g in m.gpus]) for m in seen] == [("start", job, gpus)]
    slurm.wait_state(job, {"COMPLETED"})
    time.sleep(1.0)
    _ingest(spool, store)
    rows = _intervals(store, job)
    assert [r[1] for r in rows] == gpus and all(r[3] is None for r in rows)  # no Epilog: still "running"

    healed = reconciler.observe(parse_squeue(slurm.squeue_json()), int(time.time() * 1000))
    assert [(m.phase, m.job_id, m.state) for m in healed] == [("end", job, "COMPLETED")]
    broker = MemoryBroker()
    broker.publish_jobs([*seen, *healed])
    ingest = Ingest(broker, store)
    while broker.backlog:
        ingest.step(timeout_s=0.1)
    rows = _intervals(store, job)
    assert [r[1] for r in rows] == gpus
    for _, _, start, end, *_ in rows:
        assert end is not None and 2_000 <= end - start <= 5_000  # Slurm's own start and end times, 1 s resolution
    assert reconciler.observe(parse_squeue(slurm.squeue_json()), int(time.time() * 1000)) == []  # nothing twice
