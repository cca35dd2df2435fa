"""The repository root, whether this is CI, and `gpufleet` run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def run_cli(
    *args: str, cwd: Path | None = None, timeout_s: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gpufleet ARGS` in a fresh process (its own chDB path), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "gpufleet", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )
