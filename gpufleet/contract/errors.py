"""One root error, with subclasses grouped by who has to act.

Only `gpufleet.app.cli.main` catches `GpufleetError`: it prints the message as one line and
returns `exit_code`. Messages say what failed, show the value with `!r`, and say what to do.
"""

from __future__ import annotations


class GpufleetError(Exception):
    """Root of gpufleet's own errors."""

    exit_code = 1


class ConfigError(GpufleetError):
    """Bad flags, settings or input files: fatal at startup, exit code 2."""

    exit_code = 2


class SourceUnavailable(GpufleetError):
    """The metric source cannot start (no NVML driver, no devices)."""

    exit_code = 2


class StoreError(GpufleetError):
    """The store refused or failed a statement, for a reason retrying alone will not fix
    soon (a missing table, no grant, a bad statement): an operator has to act.

    Attributes:
        code: the ClickHouse error code (`Code: NNN` in the server's message), if it gave one.
    """

    exit_code = 1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreRefusedData(StoreError):
    """The store refused an insert for what its rows contain (a value it cannot take, too
    many partitions in one block, a view's check): the same rows fail again every time, so
    ingest isolates them and dead-letters them with this reason instead of retrying."""


class TransientError(GpufleetError):
    """Worth retrying with backoff: a broker or store that is down for now."""


class InvalidMessage(GpufleetError):
    """A message that cannot be decoded or validated: dead-letter it, count it, move on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
