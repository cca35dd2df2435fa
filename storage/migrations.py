"""Versioned DDL: `storage/sql/ddl/NNN_<what>.sql`, applied in order, recorded once.

`gpufleet db migrate` applies every file not yet in `gpufleet_migrations`; statements use
`IF NOT EXISTS`, so re-running a half-applied file is safe. A file whose text changed after
it was applied is reported by `db status` (its checksum differs) and not re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from storage.clickhouse import ClickHouseStore

MIGRATIONS_TABLE = "gpufleet_migrations"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


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


def migrate(store: ClickHouseStore, raw_ttl_days: int = 14) -> list[Migration]:
    """Apply pending migrations in order; returns the ones applied now (empty when current)."""
    applied = _applied(store)
    params = {"raw_ttl_days": str(int(raw_ttl_days))}
    done = []
    for migration in available():
        if migration.version in applied:
            continue
        for statement in migration.statements(params):
            store.command(statement)
        store.command(
            f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ({{v:UInt32}}, {{n:String}}, {{c:String}})",
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        done.append(migration)
    return done
