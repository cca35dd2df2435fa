"""The synthetic scheduler through `gpufleet demo`: every busy GPU belongs to exactly one job,
the job a lost GPU belonged to ends (NODE_FAIL) and comes back requeued without the failed
node, the demo lists top jobs by energy and interrupted jobs, and `gpufleet sql --query
job_*` answers per-job energy, GPU-hours, interruptions and stragglers on the demo's data.
Subprocesses: each opens the demo's chDB path, which one process can hold at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import SyntheticScheduler
from tests.support.cli import run_cli

GPUS, TICKS, SEED = 1024, 400, 0


def _sql(dsn: str, *args: str) -> list[dict[str, Any]]:
    done = run_cli("sql", "--store", dsn, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_demo_jobs_follow_the_fleet_and_end_when_a_gpu_is_lost(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_cli("demo", "--gpus", str(GPUS), "--duration", str(TICKS), "--speed", "0", "--seed", str(SEED),
                   "--data-dir", str(data), "--no-report", "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    dsn = f"chdb://{data}"
    ((start_ms, end_ms),) = [
        tuple(r.values())
        for r in _sql(dsn, "SELECT toUnixTimestamp64Milli(min(ts)), toUnixTimestamp64Milli(max(ts)) FROM gpu_samples")
    ]
    fleet = SyntheticFleet(GPUS, SEED, load_scenario("default"), start_ms, 1.0, TICKS)
    SyntheticScheduler(fleet, SEED)  # places the fleet's jobs (and so where the faults land), as in the demo
    busy = int((fleet.job_of_gpu >= 0).sum())
    assert 0 < busy < GPUS
    for _ in range(TICKS):
        fleet.tick()
    lost = [f for f in fleet.truth if (f.kind == "gpu_lost" or f.xid == 79) and f.start_ms < end_ms - 10_000]
    assert lost, "the default scenario loses a GPU in the run"

    at = f"fromUnixTimestamp64Milli({start_ms})"
    (at_start,) = _sql(
        dsn,
        "SELECT count() AS n, uniqExact(cluster, node, gpu_index) AS gpus FROM gpu_job_intervals"
        f" WHERE start_ts <= {at} AND (end_ts IS NULL OR end_ts > {at})",
    )
    assert (at_start["n"], at_start["gpus"]) == (busy, busy)  # each busy GPU in exactly one job, idle GPUs in none
    node_lost = fleet.topology.node_name(int(fleet.topology.node_of_gpu[lost[0].gpus[0]]))
    (failed,) = _sql(dsn, "SELECT job_id, toUnixTimestamp64Milli(max(end_ts)) AS ended FROM gpu_job_intervals"
                     f" WHERE node = '{node_lost}' AND state = 'NODE_FAIL' GROUP BY job_id")  # fmt: skip
    assert 0 < failed["ended"] - lost[0].start_ms <= 5_000
    requeued = _sql(dsn, "SELECT job_id, countIf(node = '" + node_lost + "') AS on_lost, any(name) AS name"
                    f" FROM gpu_job_intervals WHERE start_ts > fromUnixTimestamp64Milli({failed['ended']})"
                    " GROUP BY job_id")  # fmt: skip
    assert requeued and all(r["on_lost"] == 0 for r in requeued)  # the failed node is drained
    (name,) = {r["name"] for r in _sql(dsn, f"SELECT name FROM gpu_job_intervals WHERE job_id = '{failed['job_id']}'")}
    assert name in {r["name"] for r in requeued}  # the failed job came back (requeued under a new id)

    assert summary["top_jobs"] and summary["interrupted_jobs"]
    (interrupted,) = [r for r in summary["interrupted_jobs"] if r["job_id"] == failed["job_id"]]
    assert interrupted["gpus_lost"] >= 1 and interrupted["state"] == "NODE_FAIL"  # the loss is inside the job it ended

    (job,) = _sql(dsn, "--query", "job_summary", "--param", f"job_id={failed['job_id']}")
    assert job["gpus_lost"] >= 1 and job["energy_kwh"] > 0 and job["gpu_hours"] > 0 and 0 <= job["goodput"] <= 1
    top = _sql(dsn, "--query", "job_top_energy", "--param", f"from_ms={start_ms}", "--param", f"to_ms={end_ms}",
               "--param", "limit=5")  # fmt: skip
    assert [r["job_id"] for r in top] == [r["job_id"] for r in summary["top_jobs"]]
    stragglers = _sql(dsn, "--query", "job_stragglers", "--param", f"job_id={failed['job_id']}", "--param", "min_minutes=1")
    assert all(r["slow_minutes"] >= 1 for r in stragglers)
