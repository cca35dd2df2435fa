"""Slurm as a job source: the Prolog/Epilog hooks on each node, the reconciler on the controller.

slurmd runs the Prolog before a job's first step on a node and the Epilog after its last,
with the job in the environment (`SLURM_JOB_ID`, `SLURM_JOB_USER`, `SLURM_JOB_PARTITION`,
`SLURM_JOB_GPUS` = the GPU indices on this node, …; facts in
shared/reference/jobs-slurm-and-kubelet.md). They run with no PATH, and a Prolog that fails
drains the node, so a hook here never raises: whatever goes wrong is logged on stderr (into
slurmd's log) and the hook exits 0 within a bounded time.

Hooks miss things: an Epilog that never ran (a node that rebooted mid-job, a hook killed by
a timeout) leaves an interval open for ever. The reconciler polls `squeue --json` on the
controller and publishes what it sees change: a job running (start, with its GPU indices
from `gres_detail`) and a job finished or gone (end, with Slurm's times). Publishing a start
or end twice is harmless: storage merges an interval's rows by earliest start and latest end.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpufleet.contract.jobs import JobAssignment, JobGpu

log = logging.getLogger(__name__)
HOOK_TIMEOUT_S = 5.0
_IDX = re.compile(r"IDX:([0-9,\-]+)")
# squeue job_state values after which the job holds no GPUs
FINISHED = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY",
})  # fmt: skip


def parse_indices(text: str) -> list[int]:
    """`0,1,2,3`, `0-3` or `0-1,4` → sorted GPU indices; anything else raises ValueError."""
    out: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, sep, high = part.partition("-")
        if sep:
            out.update(range(int(low), int(high) + 1))
        else:
            out.add(int(low))
    if any(i < 0 or i > 255 for i in out):
        raise ValueError(f"GPU index out of range in {text!r}")
    return sorted(out)


def from_hook_env(env: Mapping[str, str], phase: str, cluster: str, node: str | None, now_ms: int) -> JobAssignment:
    """The message a Prolog (`start`) or Epilog (`end`) publishes, from slurmd's environment."""
    job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if not job_id:
        raise ValueError("SLURM_JOB_ID is not set: not run by slurmd as Prolog/Epilog")
    gpus_text = env.get("SLURM_JOB_GPUS") or env.get("CUDA_VISIBLE_DEVICES") or ""
    gpus = [JobGpu(gpu_index=i) for i in parse_indices(gpus_text)]
    exit_text = env.get("SLURM_JOB_EXIT_CODE2") or env.get("SLURM_JOB_EXIT_CODE") or ""
    exit_code = _exit_code(exit_text) if phase == "end" else None
    return JobAssignment(
        ts_ms=now_ms,
        phase=phase,  # type: ignore[arg-type]
        source="slurm",
        cluster=cluster,
        node=node or env.get("SLURMD_NODENAME") or os.uname().nodename,
        job_id=job_id,
        user=env.get("SLURM_JOB_USER", ""),
        account=env.get("SLURM_JOB_ACCOUNT", ""),
        partition=env.get("SLURM_JOB_PARTITION", ""),
        name=env.get("SLURM_JOB_NAME", ""),
        gpus=gpus,
        exit_code=exit_code,
        state="" if exit_code is None else ("COMPLETED" if exit_code == 0 else "FAILED"),
    )


def _exit_code(text: str) -> int | None:
    head = text.split(":", maxsplit=1)[0].strip()
    return int(head) if head.lstrip("-").isdigit() else None


def run_hook(phase: str, put: Callable[[JobAssignment], object], cluster: str, node: str | None,
             env: Mapping[str, str] | None = None, timeout_s: float = HOOK_TIMEOUT_S) -> int:  # fmt: skip
    """Build and hand over one hook message. Always returns 0, within about `timeout_s`:
    a job must never fail or wait because telemetry had a problem."""
    previous = signal.signal(signal.SIGALRM, _give_up)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        message = from_hook_env(os.environ if env is None else env, phase, cluster, node, int(time.time() * 1000))
        put(message)
        log.info("slurm hook", extra={"phase": phase, "job_id": message.job_id, "gpus": len(message.gpus)})
    except _TimedOut:
        log.error("slurm hook gave up", extra={"phase": phase, "timeout_s": timeout_s})
    except Exception as exc:
        log.error("slurm hook failed", extra={"phase": phase, "error": str(exc)[:500]})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return 0


class _TimedOut(Exception):
    pass


def _give_up(signum: int, frame: Any) -> None:
    raise _TimedOut


# ---- the reconciler --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqueueJob:
    job_id: str
    state: str
    user: str
    account: str
    partition: str
    name: str
    start_ms: int | None
    end_ms: int | None
    gpus_by_node: dict[str, list[int]]


def parse_squeue(doc: Mapping[str, Any]) -> list[SqueueJob]:
    """`squeue --json` (openapi v0.0.38, Slurm 22.05) → jobs. `gres_detail` has one entry per
    allocated node, in the order of `job_resources.allocated_nodes`."""
    jobs = []
    for raw in doc.get("jobs", []):
        nodes = [n.get("nodename", "") for n in (raw.get("job_resources") or {}).get("allocated_nodes", [])]
        detail = raw.get("gres_detail") or []
        gpus_by_node: dict[str, list[int]] = {}
        for node, gres in zip(nodes, detail, strict=False):
            found = _IDX.search(gres)
            if found and gres.startswith("gpu"):
                gpus_by_node[node] = parse_indices(found[1])
        jobs.append(
            SqueueJob(
                job_id=str(raw["job_id"]),
                state=str(raw.get("job_state", "")),
                user=str(raw.get("user_name", "")),
                account=str(raw.get("account", "")),
                partition=str(raw.get("partition", "")),
                name=str(raw.get("name", "")),
                start_ms=_epoch_ms(raw.get("start_time")),
                end_ms=_epoch_ms(raw.get("end_time")),
                gpus_by_node=gpus_by_node,
            )
        )
    return jobs


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, dict):  # later openapi versions: {"set": true, "number": N}
        value = value.get("number") if value.get("set", True) else None
    return int(value) * 1000 if isinstance(value, int) and value > 0 else None


def squeue_json(env: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
    """Run `squeue --json` (SLURM_CONF from the environment)."""
    done = subprocess.run(["squeue", "--json"], env=dict(env) if env is not None else None, capture_output=True,
                          text=True, timeout=timeout_s, check=True)  # fmt: skip
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@dataclass
class Reconciler:
    """Turns successive `squeue` views into job starts and ends.

    Args:
        node_label: maps a Slurm node name to gpufleet's node label (identity by default).
        state_file: where the running jobs are remembered across restarts (optional).
    """

    cluster: str
    node_label: Callable[[str], str] = str
    state_file: Path | None = None
    running: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_file is not None and self.state_file.is_file():
            try:
                self.running = json.loads(self.state_file.read_text())
            except (OSError, ValueError) as exc:
                log.warning("reconciler state unreadable; starting empty", extra={"error": str(exc)[:200]})

    def observe(self, jobs: Sequence[SqueueJob], now_ms: int) -> list[JobAssignment]:
        """What changed since the last view: starts of newly running jobs (per node), ends of
        jobs now finished or no longer listed (an Epilog that never ran is healed here)."""
        out: list[JobAssignment] = []
        seen: set[str] = set()
        for job in jobs:
            seen.add(job.job_id)
            if job.state == "RUNNING" and job.gpus_by_node and job.job_id not in self.running:
                self.running[job.job_id] = {"nodes": sorted(job.gpus_by_node), "start_ms": job.start_ms or now_ms}
                out += self._starts(job, now_ms)
            elif job.job_id in self.running and job.state in FINISHED:
                out += self._ends(job.job_id, job.end_ms or now_ms, job.state)
        for job_id in [j for j in self.running if j not in seen]:  # gone from squeue (MinJobAge passed)
            out += self._ends(job_id, now_ms, "")
        self._save()
        return out

    def _starts(self, job: SqueueJob, now_ms: int) -> list[JobAssignment]:
        return [
            JobAssignment(
                ts_ms=job.start_ms or now_ms,
                phase="start",
                source="slurm",
                cluster=self.cluster,
                node=self.node_label(node),
                job_id=job.job_id,
                user=job.user,
                account=job.account,
                partition=job.partition,
                name=job.name,
                gpus=[JobGpu(gpu_index=i) for i in gpus],
            )
            for node, gpus in sorted(job.gpus_by_node.items())
        ]

    def _ends(self, job_id: str, end_ms: int, state: str) -> list[JobAssignment]:
        known = self.running.pop(job_id)
        start_ms = min(int(known["start_ms"]), end_ms)
        return [
            JobAssignment(
                ts_ms=end_ms,
                phase="end",
                source="slurm",
                cluster=self.cluster,
                node=self.node_label(node),
                job_id=job_id,
                state=state,
                start_ms=start_ms,
            )
            for node in known["nodes"]
        ]

    def _save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.running))
            os.replace(tmp, self.state_file)
