"""ClickHouse through clickhouse-connect, embedded (chDB) or server, chosen by DSN.

`chdb://PATH` runs the engine in this process on PATH (relative paths are resolved; the
data dir is locked so a second process gets a clear error); `chdb://memory` keeps nothing.
`http(s)://user:password@host:8123/database` talks to a server. Samples go in as one
Native block per batch (`storage.native`), followed (from migration 014) by the batch's
minute, hour, rack-second and latest-state rollups, computed with numpy (`storage.rollups`)
and inserted side by side, each on a connection of its own;
processes and facility readings, which come every few seconds from every node and rack,
also as Native blocks built column by column; events, inventory, jobs and dead letters,
which are few, through clickhouse-connect's own insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import clickhouse_connect
import numpy as np
import numpy.typing as npt
from clickhouse_connect.datatypes.format import set_write_format
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from gpufleet.contract.columns import GPM_COLUMNS
from gpufleet.contract.errors import ConfigError, StoreError, StoreRefusedData, TransientError
from gpufleet.contract.frame import Categorical, GpuFrame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from storage import rollups
from storage.base import DeadLetter, QueryResult
from storage.datadir import lock_data_dir
from storage.errors import classify
from storage.native import Buffer, categorical, encode_columns, encode_frame, frame_column_names, nullable
from storage.rollups_hour import gpu_hour
from storage.straggler_hours import StragglerHours

SAMPLES_TABLE = "gpu_samples"
EVENT_COLUMNS = (
    "ts", "cluster", "hall", "row", "rack", "node", "gpu_index", "uuid", "kind", "xid", "severity", "detail", "recovery_action",
)  # fmt: skip
INVENTORY_COLUMNS = (
    "ts", "cluster", "hall", "row", "rack", "node", "gpu_index", "uuid", "serial", "model", "pci_bus_id",
    "driver_version", "cuda_version", "vbios_version", "mem_total_mib", "power_limit_default_mw",
    "power_limit_min_mw", "power_limit_max_mw", "temp_shutdown_c", "temp_slowdown_c", "temp_gpu_max_c",
    "temp_mem_max_c", "mig_mode",
)  # fmt: skip
FACILITY_COLUMNS = ("ts", "site", "hall", "rack", "sensor", "value")
JOB_COLUMNS = (
    "ts", "cluster", "node", "job_id", "phase", "source", "user", "account", "partition", "name",
    "gpu_indices", "uuids", "state", "exit_code", "start_ts",
)  # fmt: skip
PROCESS_COLUMNS = (
    "ts", "cluster", "hall", "row", "rack", "node", "gpu_index", "uuid", "pid", "used_mem_mib", "gpu_instance_id",
    "compute_instance_id",
)  # fmt: skip
# gpu_instance_activity (migration 016): one row per MIG GPU instance per tick
INSTANCE_ACTIVITY_COLUMNS = (
    "ts", "cluster", "hall", "row", "rack", "node", "gpu_index", "uuid", "gpu_instance_id", "profile", "slice_count",
    *GPM_COLUMNS,
)  # fmt: skip
# Each insert into gpu_samples feeds the rollup views; run them on parallel threads rather
# than one after another (1.5× on 2 cores, measured: docs/benchmarks.md).
# The exactly-once effect rests on three settings, pinned here rather than left to server
# defaults (which changed between releases): the token dedups the block in the table
# (`insert_deduplicate`), *and* in every view's target (the default of
# `deduplicate_blocks_in_dependent_materialized_views` became 1 only in 26.2: with 0, a
# retry after a view failed part-way skips the views, and a repeat counts them twice), and
# a Distributed table inserts into its shards before it returns, so an acknowledged insert
# is stored and a retry is deduplicated by the shard (`distributed_foreground_insert`; the
# background queue would acknowledge rows not yet written). docs/kafka.md states the bounds.
DEDUP_SETTINGS: dict[str, int] = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "distributed_foreground_insert": 1,
}
INSERT_SETTINGS: dict[str, int] = {"async_insert": 0, "parallel_view_processing": 1, "optimize_on_insert": 0, **DEDUP_SETTINGS}
# Every table an ingest process inserts into (the Store's insert methods); the ingest user's
# grants (storage/sql/server/users.sql) must cover exactly these, a test compares them.
INGEST_TABLES = (
    "gpu_samples", "gpu_events", "gpu_inventory", "dead_letters", "facility_readings", "job_assignments", "gpu_processes",
    "gpu_instance_activity",
    "gpu_minute", "gpu_hour", "power_rack_1s", "gpu_latest_state",
)  # fmt: skip
# What the writer writes and reads by INSERT ... SELECT, beside INGEST_TABLES (storage.straggler_hours)
INGEST_REFRESHED = ("gpu_straggler_hour",)
INGEST_READS = ("gpu_minute",)
# The rollups the writer computes from each batch (migration 014 dropped the views that fed
# them), in insert order, after the raw rows; power_hall_1s and power_fleet_1s stay views
# chained from power_rack_1s.
STREAM_ROLLUPS = ("gpu_minute", "gpu_hour", "power_rack_1s", "gpu_latest_state")
STREAM_ROLLUPS_VERSION = 14  # the migration from which the writer feeds STREAM_ROLLUPS
# The rollup inserts of a delivery up to this many raw rows run side by side: at 1 Hz a
# partition's delivery is one tick (5,000 rows of 20,000 GPUs in 4 partitions; 50,000 of
# 200,000), 0.65-0.93x the wall time side by side. A backlog's 500,000-row deliveries
# measured 0.92-1.08x (median) and 7-13 % more on average on 2 shared cores, where each
# large insert already keeps the cores busy: those stay one after another (docs/benchmarks.md).
CONCURRENT_ROLLUPS_MAX_ROWS = 100_000
# Timestamps travel as epoch-ms ints end to end (numpy datetime64 is not accepted).
set_write_format("DateTime64", "int")


class RawInserter(Protocol):
    """What a rollup insert needs of a connection: clickhouse-connect's `Client.raw_insert`."""

    def raw_insert(
        self,
        table: str,
        column_names: Sequence[str] | None = None,
        insert_block: Any = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
    ) -> Any: ...


def stream_rollups(frame: GpuFrame) -> list[tuple[str, int, list[rollups.Column]]]:
    """The rollup blocks of `frame`, one per table of STREAM_ROLLUPS, in that order."""
    minute_rows, minute, gpu = rollups.gpu_minute(frame)
    return [
        ("gpu_minute", minute_rows, minute),
        ("gpu_hour", *gpu_hour(minute_rows, minute, gpu)),
        ("power_rack_1s", *rollups.power_rack_1s(frame)),
        ("gpu_latest_state", *rollups.gpu_latest_state(frame)),
    ]


def connect(dsn: str) -> Client:
    """A clickhouse-connect client for `dsn`; `ConfigError` for a DSN it cannot use.

    For chDB, `?database=NAME` selects (and creates) a database inside the data path, so
    that one process, which can open only one path, can still keep data sets apart.
    """
    parsed = urlparse(dsn)
    if parsed.scheme == "chdb":
        database = parse_qs(parsed.query).get("database", [None])[0]
        location = parsed.netloc + parsed.path
        if parsed.netloc == "memory" or location in ("", ":memory:"):
            return _wrap(lambda: clickhouse_connect.get_client(dsn="chdb://memory"))
        path = str(lock_data_dir(Path(location)))
        if database:
            _wrap(lambda: clickhouse_connect.get_client(interface="chdb", path=path)).command(
                f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}"
            )
        return _wrap(lambda: clickhouse_connect.get_client(interface="chdb", path=path, database=database))
    if parsed.scheme in ("http", "https"):
        return _wrap(lambda: clickhouse_connect.get_client(dsn=dsn, compress="lz4"))
    raise ConfigError(f"unsupported store DSN {dsn!r}: use chdb://PATH or http(s)://host:8123")


def _wrap(make: Any) -> Client:
    try:
        client: Client = make()
    except OperationalError as exc:
        raise TransientError(f"store unreachable: {exc}") from exc
    except DatabaseError as exc:
        raise StoreError(f"store refused the connection: {exc}") from exc
    return client


class ClickHouseStore:
    """The `Store` for ClickHouse; also runs DDL for `storage.migrations`."""

    def __init__(self, client: Client, dsn: str = "", writers: Callable[[], RawInserter] | None = None) -> None:
        """`writers` opens the connections the rollup inserts run on side by side, one per
        rollup table (default: a client of `dsn`, none without a DSN: then they run one after
        another on `client`)."""
        self.client = client
        self.dsn = dsn
        self._streams_rollups: bool | None = None  # looked up on the first sample insert
        # the rollups this writer inserts (a benchmark leaves one to a view it re-creates)
        self.stream_tables: tuple[str, ...] = STREAM_ROLLUPS
        self._rollup_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollups")
        # A clickhouse-connect client serializes its calls (chDB: a lock per handle; HTTP: one
        # session, which the server refuses to share between concurrent queries), so each
        # concurrent rollup insert gets a connection of its own, opened on first use.
        self._open_writer = writers if writers is not None else (partial(connect, dsn) if dsn else None)
        self.concurrent_rollups = True  # False: one after another on `client` (a benchmark's baseline)
        self._writers: list[RawInserter] = []
        self._writers_lock = threading.Lock()
        self._rollup_inserts = ThreadPoolExecutor(max_workers=len(STREAM_ROLLUPS), thread_name_prefix="rollup-insert")
        self.straggler_hours = StragglerHours()  # gpu_straggler_hour (018), computed once an hour is over

    @classmethod
    def open(cls, dsn: str) -> ClickHouseStore:
        return cls(connect(dsn), dsn)

    def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int:
        """The raw rows, then each rollup of them, every insert under a token derived from `dedup_token`.

        Raw first: if the process dies or a rollup insert fails after it, the retry with the
        same token is deduplicated in gpu_samples and inserts the rollups then (each one
        deduplicated if it had landed). A rollup refused by the engine is a `StoreError`,
        never `StoreRefusedData`: the raw rows are stored, so isolating them into parts under
        other tokens would store them twice; the batch waits for the store to be fixed.
        The rollups are computed on a second thread while the raw rows go in: chDB releases
        the GIL during an insert and numpy during its sorts and reductions (measured,
        docs/benchmarks.md). Once the raw insert is acknowledged, the rollup inserts run side
        by side, each on its own connection (`_insert_rollups`; up to CONCURRENT_ROLLUPS_MAX_ROWS
        raw rows, one after another above); never beside the raw insert,
        whose refusal splits the batch into parts under other tokens (rollups of the whole
        batch stored before would then count the parts' rows twice).
        """
        if not len(frame):
            return 0
        rollup_blocks = self._rollup_thread.submit(self._rollup_blocks, frame) if self.streams_rollups() else None
        self._native_insert(SAMPLES_TABLE, frame_column_names(), encode_frame(frame), dedup_token)
        if rollup_blocks is not None:
            self._insert_rollups(rollup_blocks.result(), dedup_token, side_by_side=len(frame) <= CONCURRENT_ROLLUPS_MAX_ROWS)
        self.straggler_hours.after_insert(self, frame)
        return len(frame)

    def _insert_rollups(self, blocks: list[tuple[str, list[str], list[Buffer]]], dedup_token: str, side_by_side: bool) -> None:
        """Each rollup block under `<dedup_token>:<table>`, all at once if `side_by_side` and connections can be opened.

        Every insert is waited for before an error is raised, so a retry never overlaps an
        insert of this attempt; the first failure in table order is raised. The ones that
        landed are deduplicated by the retry, as when the inserts ran one after another (each
        table dedups its own token; none depends on another's insert).
        """
        writers = self._rollup_writers(len(blocks)) if side_by_side else []
        if not writers:
            for table, names, block in blocks:
                self._insert_rollup(self.client, table, names, block, dedup_token)
            return
        futures: list[Future[None]] = [
            self._rollup_inserts.submit(self._insert_rollup, writer, table, names, block, dedup_token)
            for writer, (table, names, block) in zip(writers, blocks, strict=True)
        ]
        failures = [exc for f in futures if (exc := f.exception()) is not None]
        if failures:
            raise failures[0]

    def _insert_rollup(self, writer: RawInserter, table: str, names: list[str], block: list[Buffer], dedup_token: str) -> None:
        try:
            self._native_insert(table, names, block, f"{dedup_token}:{table}", writer)
        except StoreRefusedData as exc:
            message = f"{table} refused the rollup of stored rows (fix the store; the batch waits): {exc}"
            raise StoreError(message, exc.code) from exc

    def _rollup_writers(self, count: int) -> list[RawInserter]:
        """`count` connections for the rollup inserts, one each; none when they run one after another
        (no way to open them, a single rollup, or `concurrent_rollups` off)."""
        if self._open_writer is None or count < 2 or not self.concurrent_rollups:
            return []
        with self._writers_lock:
            while len(self._writers) < count:
                self._writers.append(self._open_writer())
            return self._writers[:count]

    def _rollup_blocks(self, frame: GpuFrame) -> list[tuple[str, list[str], list[Buffer]]]:
        """The Native blocks of `frame`'s rollups that this writer inserts: (table, column names, block)."""
        return [
            (table, [c[0] for c in columns], encode_columns(rows, columns))
            for table, rows, columns in stream_rollups(frame)
            if table in self.stream_tables
        ]

    def _native_insert(
        self, table: str, names: list[str], parts: list[Buffer], token: str, writer: RawInserter | None = None
    ) -> None:
        # One buffer, each column copied once: chDB's backend writes the block to a file part
        # by part, and every write releases and retakes the GIL, which a busy thread (the
        # demo's agent) then holds for up to the switch interval: hundreds of parts per block
        # made an insert several times slower beside it (measured, docs/benchmarks.md).
        block = [b"".join(parts)]
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self._call((writer or self.client).raw_insert, table, names, block, settings=settings, fmt="Native")

    def streams_rollups(self) -> bool:
        """Whether this store is at migration 014 or later, where the writer feeds the rollups.

        An older store still has the views on gpu_samples (and may lack the rollup tables):
        until `migrate` runs, its rollups come from those. Looked up once; `migrate` resets it.
        """
        if self._streams_rollups is None:
            try:
                rows = self.query(f"SELECT count() FROM gpufleet_migrations WHERE version >= {STREAM_ROLLUPS_VERSION}").rows
            except StoreError as exc:
                if exc.code == ACCESS_DENIED:
                    raise StoreError(
                        "the store user may not read gpufleet_migrations, which tells whether it writes the rollups:"
                        " grant it SELECT (`gpufleet db users` renders the grant)",
                        exc.code,
                    ) from exc
                if exc.code != UNKNOWN_TABLE:
                    raise
                rows = [(0,)]  # never migrated: raw tables made by hand, or by another tool
            self._streams_rollups = bool(rows[0][0])
        return self._streams_rollups

    def schema_changed(self) -> None:
        """Called by the migrations after DDL: look up again whether the writer feeds the rollups."""
        self._streams_rollups = None
        self.straggler_hours.schema_changed()

    def insert_events(self, events: Sequence[GpuEvent], dedup_token: str) -> int:
        rows = [
            (
                e.ts_ms,
                e.cluster,
                e.hall,
                e.row,
                e.rack,
                e.node,
                e.gpu_index,
                e.uuid,
                e.kind,
                e.xid,
                e.severity,
                e.detail,
                e.recovery_action,
            )
            for e in events
        ]
        return self._insert_rows("gpu_events", EVENT_COLUMNS, rows, dedup_token)

    def insert_inventory(self, inventory: Sequence[GpuInventory], dedup_token: str) -> int:
        return self._insert_records("gpu_inventory", INVENTORY_COLUMNS, inventory, dedup_token)

    def insert_dead_letters(self, letters: Sequence[DeadLetter], dedup_token: str) -> int:
        rows = [
            (d.source, d.reason, d.node, d.payload.decode("utf-8", "replace") if isinstance(d.payload, bytes) else d.payload)
            for d in letters
        ]
        return self._insert_rows("dead_letters", ("source", "reason", "node", "payload"), rows, dedup_token)

    def insert_facility(self, readings: Sequence[FacilitySample], dedup_token: str) -> int:
        """As one Native block: six readings per rack per second (~2,000 a second at 20,000 GPUs)."""
        if not readings:
            return 0
        columns: list[rollups.Column] = [("ts", "DateTime64(3, 'UTC')", _ints([r.ts_ms for r in readings]))]
        columns += [(name, _LC, categorical([getattr(r, name) for r in readings])) for name in FACILITY_COLUMNS[1:5]]
        columns.append(("value", "Float64", np.array([r.value for r in readings], dtype=np.float64)))
        self._native_insert("facility_readings", list(FACILITY_COLUMNS), encode_columns(len(readings), columns), dedup_token)
        return len(readings)

    def _insert_records(self, table: str, columns: Sequence[str], records: Sequence[Any], token: str) -> int:
        """Models column by column: `ts` from `ts_ms`, every other column from the field of its name."""
        if not records:
            return 0
        data = [[r.ts_ms for r in records], *([getattr(r, c) for r in records] for c in columns[1:])]
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self._call(self.client.insert, table, data, column_names=list(columns), column_oriented=True, settings=settings)
        return len(records)

    def insert_jobs(self, jobs: Sequence[JobAssignment], dedup_token: str) -> int:
        rows = [
            (j.ts_ms, j.cluster, j.node, j.job_id, j.phase, j.source, j.user, j.account, j.partition, j.name,
             [g.gpu_index for g in j.gpus], [g.uuid or "" for g in j.gpus], j.state, j.exit_code, j.start_ms)
            for j in jobs
        ]  # fmt: skip
        return self._insert_rows("job_assignments", JOB_COLUMNS, rows, dedup_token)

    def insert_processes(self, processes: Sequence[GpuProcesses], dedup_token: str) -> int:
        """One row per process per GPU per message (a GPU that ran none adds no row).

        Column by column as one Native block: a 20,000-GPU fleet reports ~20,000 processes
        every 5 s, and clickhouse-connect's row insert cost ~2 µs a row more (measured,
        docs/benchmarks.md).
        """
        procs = [p for m in processes for p in m.processes]
        if not procs:
            return 0
        per_message = np.fromiter((len(m.processes) for m in processes), dtype=np.intp, count=len(processes))
        ts_ms = np.repeat(_ints([m.ts_ms for m in processes]), per_message)
        columns: list[rollups.Column] = [("ts", "DateTime64(3, 'UTC')", ts_ms)]
        for name in PROCESS_COLUMNS[1:6]:  # the topology labels, one per message
            labels = categorical([getattr(m, name) for m in processes])
            columns.append((name, _LC, Categorical(np.repeat(labels.codes, per_message), labels.values)))
        columns += [
            ("gpu_index", "UInt8", np.fromiter((p.gpu_index for p in procs), dtype=np.uint8, count=len(procs))),
            ("uuid", _LC, categorical([p.uuid for p in procs])),
            ("pid", "UInt32", np.fromiter((p.pid for p in procs), dtype=np.uint32, count=len(procs))),
            *((n, "Nullable(UInt32)", nullable([getattr(p, n) for p in procs], np.uint32)) for n in PROCESS_COLUMNS[9:]),
        ]
        self._native_insert("gpu_processes", list(PROCESS_COLUMNS), encode_columns(len(procs), columns), dedup_token)
        return len(procs)

    def insert_instance_activity(self, activity: Sequence[GpuInstanceActivity], dedup_token: str) -> int:
        """One row per MIG GPU instance per message."""
        rows = [
            (m.ts_ms, m.cluster, m.hall, m.row, m.rack, m.node, i.gpu_index, i.uuid, i.gpu_instance_id, i.profile,
             i.slice_count, *(getattr(i, c) for c in GPM_COLUMNS))
            for m in activity
            for i in m.instances
        ]  # fmt: skip
        return self._insert_rows("gpu_instance_activity", INSTANCE_ACTIVITY_COLUMNS, rows, dedup_token)

    def _insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], token: str) -> int:
        if not rows:
            return 0
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self._call(self.client.insert, table, rows, column_names=list(columns), settings=settings)
        return len(rows)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None, settings: dict[str, Any] | None = None) -> QueryResult:
        result = self._call(self.client.query, sql, parameters=dict(parameters or {}), settings=settings)
        return QueryResult(list(result.column_names), [tuple(r) for r in result.result_rows])

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Any:
        return self._call(self.client.command, sql, parameters=dict(parameters or {}), settings=settings)

    def close(self) -> None:
        self._rollup_thread.shutdown()
        self._rollup_inserts.shutdown()
        for writer in self._writers:
            close = getattr(writer, "close", None)
            if close is not None:
                close()
        self.client.close()

    @staticmethod
    def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise TransientError(f"store unreachable: {exc}") from exc
        except DatabaseError as exc:
            raise classify(str(exc), insert=fn.__name__ in _INSERTS) from exc


def _ints(values: Sequence[int]) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


_LC = "LowCardinality(String)"
_INSERTS = frozenset({"insert", "raw_insert"})
UNKNOWN_TABLE = 60
ACCESS_DENIED = 497
