"""dcgm-exporter's job-mapping folder as a job source, for sites whose hooks already write it.

`--hpc-job-mapping-dir DIR`: one file per GPU, named by its index (`3`, or `3.1` for GPU
instance 1 of a MIG GPU), holding the ids of the jobs running on it, one per line. This
source reads the folder on its own schedule, diffs it with the previous read and publishes
a start when a job appears on GPUs and an end when it is gone from all of them. The files
carry no times: a start or end is stamped when it was noticed (at most one poll late).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from gpufleet.contract.jobs import JobAssignment, JobGpu

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{1,3})(?:\.\d+)?$")


def read_mapping(folder: Path) -> dict[str, set[int]]:
    """job id → GPU indices holding it; files not named like a GPU are ignored."""
    jobs: dict[str, set[int]] = {}
    if not folder.is_dir():
        return jobs
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if not match or not path.is_file() or int(match[1]) > 255:
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:  # removed between listing and reading: the next poll sees it
            log.info("mapping file vanished", extra={"file": path.name, "error": str(exc)[:200]})
            continue
        for line in lines:
            job = line.strip()
            if job and len(job) <= 128:
                jobs.setdefault(job, set()).add(int(match[1]))
    return jobs


@dataclass
class MappingJobs:
    folder: Path
    cluster: str
    node: str
    held: dict[str, JobAssignment] = field(default_factory=dict)

    def poll(self, now_ms: int) -> list[JobAssignment]:
        current = read_mapping(self.folder)
        out: list[JobAssignment] = []
        for job_id, gpus in sorted(current.items()):
            known = self.held.get(job_id)
            if known is None or {g.gpu_index for g in known.gpus} != gpus:
                start = JobAssignment(
                    ts_ms=now_ms if known is None else known.ts_ms, phase="start", source="mapping",
                    cluster=self.cluster, node=self.node, job_id=job_id, gpus=[JobGpu(gpu_index=i) for i in sorted(gpus)],
                )  # fmt: skip
                self.held[job_id] = start
                out.append(start)
        for job_id in [j for j in self.held if j not in current]:
            start = self.held.pop(job_id)
            out.append(start.model_copy(update={"phase": "end", "ts_ms": now_ms, "start_ms": start.ts_ms}))
        return out
