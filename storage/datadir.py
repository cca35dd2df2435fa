"""One process per embedded data directory.

chDB opens its data path inside the process; two processes on one path would corrupt it.
A lock file held with `flock` for the life of the process turns that into a clear error.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from gpufleet.contract.errors import ConfigError

LOCK_NAME = ".gpufleet.lock"
_held: dict[str, IO[str]] = {}


def lock_data_dir(path: Path) -> Path:
    """Create `path` if needed, check it is writable and take its lock (once per process)."""
    path = path.resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data dir {str(path)!r}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"data dir {str(path)!r} is not writable: choose another with --data-dir or --store")
    key = str(path)
    if key in _held:
        return path
    try:
        handle = open(path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
    except OSError as exc:
        raise ConfigError(f"data dir {key!r} is not writable: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"data dir {key!r} is in use by another gpufleet process (pid {owner}); "
            "chDB allows one process per data path: stop it or use another --data-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held[key] = handle
    return path
