"""A spool folder of job messages: hooks drop them, a forwarder publishes them.

Slurm's Prolog and Epilog must not wait on a network: a hook writes its message as one file
(write to a temporary name, then rename, so a reader never sees half a file) and returns in
milliseconds. `forward` publishes every spooled message and deletes the files only after
the transport flushed them, so a broker outage delays job messages and loses none. A file
that is not a valid message is moved to `rejected/` with its reason beside it, and counted.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from gpufleet.contract.jobs import JobAssignment

log = logging.getLogger(__name__)
SUFFIX = ".json"


class JobPublisher(Protocol):
    """What a forwarder needs from a transport (pipeline.transport.Transport has it)."""

    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None: ...

    def flush(self, timeout_s: float) -> None: ...


@dataclass(slots=True)
class SpoolStats:
    forwarded: int = 0
    rejected: int = 0


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stats = SpoolStats()

    def put(self, message: JobAssignment) -> Path:
        """Write one message atomically; returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Sortable by time, unique across concurrent hooks on one node.
        name = f"{message.ts_ms:013d}-{message.phase}-{_safe(message.job_id)}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(message.model_dump_json(), encoding="utf-8")
        final = self.folder / f"{name}{SUFFIX}"
        os.replace(tmp, final)
        return final

    def pending(self) -> list[tuple[Path, JobAssignment]]:
        """Spooled messages, oldest first; invalid files are moved aside to `rejected/`."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            try:
                out.append((path, JobAssignment.model_validate_json(path.read_bytes())))
            except (ValidationError, OSError, UnicodeDecodeError) as exc:
                self._reject(path, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        return out

    def _reject(self, path: Path, reason: str) -> None:
        aside = self.folder / "rejected"
        aside.mkdir(exist_ok=True)
        try:
            os.replace(path, aside / path.name)
            (aside / f"{path.name}.reason").write_text(reason + "\n", encoding="utf-8")
        except OSError:
            pass
        self.stats.rejected += 1
        log.warning("rejected spooled job message", extra={"file": path.name, "reason": reason})

    def forward(self, publisher: JobPublisher, flush_timeout_s: float = 30.0, batch: int = 1000) -> int:
        """Publish everything spooled; files are removed once the publisher flushed them."""
        sent = 0
        items = self.pending()
        for i in range(0, len(items), batch):
            part = items[i : i + batch]
            publisher.publish_jobs([m for _, m in part])
            publisher.flush(flush_timeout_s)
            for path, _ in part:
                path.unlink(missing_ok=True)
            sent += len(part)
        self.stats.forwarded += sent
        return sent

    def forward_forever(self, publisher: JobPublisher, interval_s: float, stop: object = None) -> None:
        """`forward` every `interval_s` until `stop.is_set()` (a threading.Event) or forever."""
        while stop is None or not stop.is_set():  # type: ignore[attr-defined]
            try:
                self.forward(publisher)
            except Exception as exc:  # a broker away: keep the files, try again next round
                log.warning("job spool forward failed", extra={"error": str(exc)[:300]})
            time.sleep(interval_s)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in text)[:64]
