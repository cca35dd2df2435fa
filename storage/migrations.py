"""Versioned DDL: `storage/sql/ddl/NNN_<what>.sql`, applied in order, recorded once.

`gpufleet db migrate` applies every file not yet in `gpufleet_migrations`; statements use
`IF NOT EXISTS`, so re-running a half-applied file is safe. A file whose text changed after
it was applied is reported by `db status` (its checksum differs) and not re-run.

Three things happen around the DDL itself:

- A materialized view only sees rows inserted after it exists. So that a v1 store keeps
  its history when it gains rollups, `migrate` backfills a view's target from the rows
  already stored (the view's own SELECT, run once) just before it creates the view, when
  that target is still empty. Stop ingest while migrating: rows that arrive between the
  backfill and the view are missed.
- Reference data (the XID catalog) is loaded after the DDL on every run; an unchanged
  catalog is deduplicated by its content-derived token.
- TTLs come from settings. A table created earlier with another TTL is altered to the
  configured one, so changing `raw_ttl_days` and re-running `migrate` takes effect.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from importlib import resources

from gpufleet.contract.xids import catalog as xid_catalog
from storage.clickhouse import ClickHouseStore

MIGRATIONS_TABLE = "gpufleet_migrations"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_MATERIALIZED_VIEW = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<view>\w+)\s+TO (?P<target>\w+) AS\s+(?P<select>SELECT\b.*)$", re.S
)
# system.tables shows `TTL ts + toIntervalDay(14)`; the DDL says `INTERVAL 14 DAY`
_TTL_DAYS = re.compile(r"\bTTL\b.*?(?:INTERVAL (\d+) DAY|toIntervalDay\((\d+)\))", re.S)


@dataclass(frozen=True, slots=True)
class Ttls:
    """Retention in days: raw samples (and latest state), minute rollups (and per-second power), hour rollups."""

    raw_days: int = 14
    minute_days: int = 90
    hour_days: int = 730

    def params(self) -> dict[str, str]:
        return {
            "raw_ttl_days": str(int(self.raw_days)),
            "minute_ttl_days": str(int(self.minute_days)),
            "hour_ttl_days": str(int(self.hour_days)),
        }


# table -> (TTL expression, the Ttls field that sets it); mirrors the DDL files
TTL_OF_TABLE: dict[str, tuple[str, str]] = {
    "gpu_samples": ("toDateTime(ts) + INTERVAL {days} DAY", "raw_days"),
    "gpu_latest_state": ("toDateTime(ts) + INTERVAL {days} DAY", "raw_days"),
    "gpu_minute": ("minute + INTERVAL {days} DAY", "minute_days"),
    "power_rack_1s": ("ts + INTERVAL {days} DAY", "minute_days"),
    "power_hall_1s": ("ts + INTERVAL {days} DAY", "minute_days"),
    "power_fleet_1s": ("ts + INTERVAL {days} DAY", "minute_days"),
    "gpu_hour": ("hour + INTERVAL {days} DAY", "hour_days"),
    "gpu_straggler_hour": ("hour + INTERVAL {days} DAY", "minute_days"),
    "job_assignments": ("toDateTime(ts) + INTERVAL {days} DAY", "hour_days"),
    "gpu_jobs": ("toDateTime(last_ts) + INTERVAL {days} DAY", "hour_days"),
}


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def statements(self, params: dict[str, str]) -> list[str]:
        text = self.text
        for key, value in params.items():
            text = text.replace("{" + key + "}", value)
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in body.split(";") if s.strip()]


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    name: str
    applied: bool
    checksum_ok: bool


def available() -> list[Migration]:
    folder = resources.files("storage.sql.ddl")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def _ensure_table(store: ClickHouseStore) -> None:
    store.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
        " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
    )


def _applied(store: ClickHouseStore) -> dict[int, str]:
    _ensure_table(store)
    rows = store.query(f"SELECT version, checksum FROM {MIGRATIONS_TABLE}").rows
    return {int(v): str(c) for v, c in rows}


def status(store: ClickHouseStore) -> list[MigrationState]:
    applied = _applied(store)
    return [
        MigrationState(m.version, m.name, m.version in applied, applied.get(m.version, m.checksum) == m.checksum)
        for m in available()
    ]


def migrate(
    store: ClickHouseStore, raw_ttl_days: int = 14, minute_ttl_days: int = 90, hour_ttl_days: int = 730
) -> list[Migration]:
    """Apply pending migrations in order; returns the ones applied now (empty when current).

    Also loads the XID catalog and brings table TTLs to the given days (both idempotent).
    """
    ttls = Ttls(raw_ttl_days, minute_ttl_days, hour_ttl_days)
    applied = _applied(store)
    done = []
    for migration in available():
        if migration.version in applied:
            continue
        for statement in migration.statements(ttls.params()):
            _backfill_before_view(store, statement)
            store.command(statement)
        record_applied(store, migration)
        done.append(migration)
    store.schema_changed()
    tables = _tables(store)
    if "xid_catalog" in tables:
        load_xid_catalog(store)
    sync_ttls(store, ttls, tables)
    return done


def _tables(store: ClickHouseStore) -> set[str]:
    return {str(r[0]) for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()").rows}


def _backfill_before_view(store: ClickHouseStore, statement: str) -> None:
    """Fill a new materialized view's target from the rows stored before the view existed.

    Only an empty target is filled: one that holds rows was fed by an earlier view that a
    later migration replaced (011 re-chains the rollups), and filling it again would count
    that history twice.
    """
    match = _MATERIALIZED_VIEW.match(statement)
    if match is None or match["view"] in _tables(store):
        return  # not a view, or a view that already exists and has been feeding its target
    if store.query(f"SELECT 1 FROM {match['target']} LIMIT 1").rows:
        return
    store.command(f"INSERT INTO {match['target']} {match['select']}", settings={"async_insert": 0})


def hour_from_minute_sql(where: str = "") -> str:
    """`INSERT INTO gpu_hour SELECT ...` over gpu_minute rows (`where` filters them): the
    SELECT of gpu_hour_mv as 012 left it. Since 014 the writer merges gpu_hour itself; rows
    put into gpu_minute by SQL (a benchmark generating history, a repair) reach gpu_hour
    through this, run once over the rows it has not seen."""
    view = next(
        s for m in available() if m.version == 12 for s in m.statements(Ttls().params())
        if s.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS gpu_hour_mv")
    )  # fmt: skip
    select = _MATERIALIZED_VIEW.match(view)["select"]  # type: ignore[index]
    if where:
        select = select.replace("\nGROUP BY hour", f"\nWHERE {where}\nGROUP BY hour")
    return f"INSERT INTO gpu_hour {select}"


def xid_catalog_rows() -> tuple[list[tuple[object, ...]], str]:
    """The catalog's rows, versioned by load time, and a token derived from their content.

    The token makes reloading an unchanged catalog a no-op (the insert is deduplicated); an
    edited catalog gets a new token and a newer version, which ReplacingMergeTree keeps.
    """
    entries = [(e.xid, e.mnemonic, e.meaning, e.action, e.severity, e.fatal) for e in xid_catalog().values()]
    entries.sort()
    digest = hashlib.sha256(repr(entries).encode()).hexdigest()
    version = time.time_ns() // 1000
    rows: list[tuple[object, ...]] = [(*e, version) for e in entries]
    return rows, f"xid_catalog:{digest[:32]}"


def load_xid_catalog(store: ClickHouseStore) -> None:
    rows, token = xid_catalog_rows()
    columns = ["xid", "mnemonic", "meaning", "action", "severity", "fatal", "version"]
    store.client.insert(
        "xid_catalog", rows, column_names=columns, settings={"async_insert": 0, "insert_deduplication_token": token}
    )


def sync_ttls(store: ClickHouseStore, ttls: Ttls, tables: set[str] | None = None) -> list[str]:
    """ALTER the TTL of every table whose stored TTL differs from `ttls`; returns those tables."""
    present = _tables(store) if tables is None else tables
    changed = []
    for table, (expression, field) in TTL_OF_TABLE.items():
        if table not in present:
            continue
        days = int(getattr(ttls, field))
        engine = str(store.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}", {"t": table}
        ).rows[0][0])  # fmt: skip
        current = _TTL_DAYS.search(engine)
        if current is not None and int(current[1] or current[2]) == days:
            continue
        store.command(f"ALTER TABLE {table} MODIFY TTL {expression.format(days=days)}")
        changed.append(table)
    return changed


def record_applied(store: ClickHouseStore, migration: Migration) -> None:
    """Mark `migration` applied (after its statements ran: a crash in between re-runs it)."""
    store.command(
        f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ({{v:UInt32}}, {{n:String}}, {{c:String}})",
        parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
    )
