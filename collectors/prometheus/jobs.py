"""`hpc_job` labels from dcgm-exporter's job-mapping files (`--hpc-job-mapping-dir`).

A batch system's prolog writes one file per GPU, named after the GPU index, holding the
job ids that own it, one per line; the epilog removes it (dcgm-exporter's README, the same
files its `--hpc-job-mapping-dir` reads, so a site's Slurm hooks keep working). Each scrape
asks for a GPU's labels; a file is re-read only when its mtime changes, and a GPU without a
file (or with an empty one) gets no `hpc_job` label. Several jobs on one GPU are joined with
commas in one series, where dcgm-exporter repeats every series per job.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class HpcJobMapping:
    """Labels for `GpuExposition(job_labels=...)` from the files in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, str]] = {}  # file name -> (mtime_ns, joined job ids)

    def __call__(self, node: str, gpu: int) -> dict[str, str]:
        jobs = self._jobs(str(gpu))
        return {"hpc_job": jobs} if jobs else {}

    def _jobs(self, name: str) -> str:
        path = self.directory / name
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:  # no file: no job on this GPU (or the directory is not there yet)
            with self._lock:
                self._cache.pop(name, None)
            return ""
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == mtime:
                return cached[1]
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        jobs = ",".join(line.strip() for line in text.splitlines() if line.strip())
        with self._lock:
            self._cache[name] = (mtime, jobs)
        return jobs
