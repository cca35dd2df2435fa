"""The `Store` seam: where samples rest.

The pipeline writes through this Protocol and never sees a ClickHouse client. There is one
implementation, `storage.clickhouse.ClickHouseStore`, for both DSN schemes: `chdb://PATH`
(the engine in-process) and `http(s)://host:8123` (a server); chDB is the real engine, so
tests need no fake store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be stored, and why."""

    source: str  # where it came from, e.g. "memory" or "gpufleet.samples.v1/3@1200"
    reason: str
    payload: bytes | str
    node: str | None = None


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Store(Protocol):
    """Writes batches and answers SQL.

    Every insert takes a `dedup_token`: inserting the same rows again with the same token
    stores them once (the tables keep a deduplication window). Inserts raise
    `TransientError` when the store is unreachable, `StoreError` when it refuses.
    `close()` is idempotent.
    """

    def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int: ...

    def insert_events(self, events: Sequence[GpuEvent], dedup_token: str) -> int: ...

    def insert_inventory(self, inventory: Sequence[GpuInventory], dedup_token: str) -> int: ...

    def insert_dead_letters(self, letters: Sequence[DeadLetter], dedup_token: str) -> int: ...

    def insert_facility(self, readings: Sequence[FacilitySample], dedup_token: str) -> int: ...

    def insert_jobs(self, jobs: Sequence[JobAssignment], dedup_token: str) -> int: ...
    def insert_processes(self, processes: Sequence[GpuProcesses], dedup_token: str) -> int: ...
    def insert_instance_activity(self, activity: Sequence[GpuInstanceActivity], dedup_token: str) -> int: ...

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult: ...

    def close(self) -> None: ...
