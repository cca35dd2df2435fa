"""The same DDL for a replicated, sharded ClickHouse cluster (`db migrate --cluster NAME`).

The migration files are written for one server. For a cluster each statement is rewritten:

- a data table `t` becomes `t_local` ON CLUSTER with the Replicated variant of its engine
  (path `/clickhouse/tables/{shard}/{database}/{table}`, replica `{replica}`: macros each
  server defines), plus a `Distributed` table `t` over it, sharded by `cityHash64(node)` so
  that one node's GPUs, and so its rollups and latest state, live on one shard;
- reference tables (the XID catalog, the migrations record) are replicated to every server
  instead (one Keeper path for all shards) so joins against them stay local;
- materialized views read the local source (`gpu_samples_local`) and write `t_local` on
  every shard: each shard rolls up its own rows, and the Distributed tables sum shards at
  read time;
- plain views, SQL functions, DROP VIEW and ALTERs get ON CLUSTER; an ALTER applies to the
  local table, and one that adds or drops columns to the Distributed table over it as well;
- the writer inserts the raw-fed rollups (gpu_minute, power_rack_1s, gpu_latest_state, since
  014) through their Distributed tables. Sharding must be a function of the row, so that a
  retried block reaches the shard that holds its first copy and is deduplicated there:
  node where the table has it, rack for power_rack_1s (a random key would store a retry on
  another shard, twice). 014 re-creates power_rack_1s's Distributed table, made with rand()
  before, with its key; 019 does the same for facility_readings (by rack) and dead_letters
  (by what was refused: its node may be NULL), and for the view-filled hall, fleet and
  facility-minute tables, the last ones that had rand(); a table without a key is refused;
- backfills and refills (the INSERT ... SELECT in 011) are not rendered: a new cluster has no
  rows to fill. A cluster that already holds rows would run 011's refill by hand through the
  Distributed tables (docs/storage.md).

Queries keep using the unsuffixed names, which are the Distributed tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.clickhouse import ClickHouseStore
from storage.migrations import MIGRATIONS_TABLE, Migration, Ttls, available, load_xid_catalog, record_applied

REFERENCE_TABLES = frozenset({"xid_catalog", MIGRATIONS_TABLE})
SHARDED_BY_NODE = "cityHash64(node)"
# Distributed tables without a node column that are inserted into by the writer: their key
SHARDING_KEYS = {
    "power_rack_1s": "cityHash64(rack)",
    "facility_readings": "cityHash64(site, hall, rack)",
    # a dead letter's node is Nullable (a message too broken to name one): the refused bytes decide
    "dead_letters": "cityHash64(source, payload)",
    # filled per shard by views over the local source, never inserted through Distributed; a key
    # from the row all the same, so that no Distributed table can store a retry twice
    "facility_minute": "cityHash64(site, hall, rack)",
    "power_hall_1s": "cityHash64(hall)",
    "power_fleet_1s": "cityHash64(cluster)",
}
# migration version -> tables whose Distributed table it re-creates with SHARDING_KEYS' key
RESHARDED = {
    14: ("power_rack_1s",),
    19: ("facility_readings", "dead_letters", "facility_minute", "power_hall_1s", "power_fleet_1s"),
}
_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\(", re.S)
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree(?:\(([^)]*)\))?")
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\s+TO (\w+) AS", re.S)
_CREATE_VIEW = re.compile(r"^CREATE VIEW IF NOT EXISTS (\w+) AS", re.S)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\s", re.S)
_DROP_VIEW = re.compile(r"^DROP VIEW IF EXISTS (\w+)$")
_CODEC = re.compile(r" CODEC\([^()]*(?:\([^()]*\)[^()]*)*\)")
_CREATE_FUNCTION = re.compile(r"^CREATE FUNCTION IF NOT EXISTS (\w+) AS", re.S)
_FROM = re.compile(r"\bFROM (\w+)\b")
_DEDUP_WINDOW = re.compile(r"\bnon_replicated_deduplication_window = (\d+)")
# Replicated tables ignore non_replicated_deduplication_window; their own window (blocks and
# seconds, both kept in Keeper) is pinned here because its defaults changed in 25.9/25.10.
# A retried insert is deduplicated while its block is among the last N of the table *and*
# younger than this: docs/kafka.md states the bound.
REPLICATED_DEDUP_WINDOW_S = 3600


def _replicated_window(match: re.Match[str]) -> str:
    blocks = match[1]
    return f"replicated_deduplication_window = {blocks}, replicated_deduplication_window_seconds = {REPLICATED_DEDUP_WINDOW_S}"


@dataclass(frozen=True, slots=True)
class ClusterDdl:
    cluster: str
    sharded: frozenset[str] = frozenset()  # data tables, whose shard-local part is `<name>_local`

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER '{self.cluster}'"

    def render(self, statement: str) -> list[str]:
        """The cluster statements for one single-server statement."""
        if match := _CREATE_TABLE.match(statement):
            return self._table(match[1], statement)
        if match := _CREATE_MV.match(statement):
            head = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {match[1]} {self.on_cluster} TO {match[2]}_local AS"
            select = _FROM.sub(lambda m: f"FROM {m[1]}_local" if m[1] in self.sharded else m[0], statement[match.end() :])
            return [head + select]
        if match := _CREATE_VIEW.match(statement):
            return [f"CREATE VIEW IF NOT EXISTS {match[1]} {self.on_cluster} AS" + statement[match.end() :]]
        if match := _CREATE_FUNCTION.match(statement):
            return [f"CREATE FUNCTION IF NOT EXISTS {match[1]} {self.on_cluster} AS" + statement[match.end() :]]
        if match := _DROP_VIEW.match(statement):
            return [f"DROP VIEW IF EXISTS {match[1]} {self.on_cluster}"]
        if match := _ALTER.match(statement):
            actions = statement[match.end() :]
            out = [f"ALTER TABLE {match[1]}_local {self.on_cluster}\n" + actions]
            if match[1] in self.sharded and re.search(r"\b(ADD|DROP) COLUMN\b", actions):
                out.append(f"ALTER TABLE {match[1]} {self.on_cluster}\n" + _CODEC.sub("", actions))  # Distributed: no codecs
            return out
        if statement.startswith("INSERT INTO "):
            return []
        raise ValueError(f"no cluster rendering for statement: {statement[:80]!r}")

    def _table(self, name: str, statement: str) -> list[str]:
        reference = name in REFERENCE_TABLES
        local = name if reference else f"{name}_local"
        shard = "all" if reference else "{shard}"
        path = f"'/clickhouse/tables/{shard}/{{database}}/{local}'"

        def replicated(match: re.Match[str]) -> str:
            args = ", ".join(a for a in (path, "'{replica}'", (match[2] or "").strip()) if a)
            return f"ENGINE = Replicated{match[1]}MergeTree({args})"

        body = _ENGINE.sub(replicated, statement[_CREATE_TABLE.match(statement).end() - 1 :], count=1)  # type: ignore[union-attr]
        body = _DEDUP_WINDOW.sub(_replicated_window, body)
        out = [f"CREATE TABLE IF NOT EXISTS {local} {self.on_cluster}\n{body}"]
        if not reference:
            out.append(f"CREATE TABLE IF NOT EXISTS {name} {self.on_cluster} AS {local} {self.distributed(name, statement)}")
        return out

    def distributed(self, name: str, statement: str) -> str:
        """The Distributed engine clause of data table `name` (its CREATE is `statement`)."""
        if name in SHARDING_KEYS:
            key = SHARDING_KEYS[name]
        elif re.search(r"^\s*node LowCardinality\(String\)", statement, re.M):
            key = SHARDED_BY_NODE
        else:
            # a random key would send a retried block to another shard, stored twice there
            raise ValueError(f"no sharding key for Distributed table {name}: add it to SHARDING_KEYS")
        return f"ENGINE = Distributed('{self.cluster}', currentDatabase(), {name}_local, {key})"

    def reshard(self, name: str, statement: str) -> str:
        """Re-create the Distributed table of `name` with its key (the data lives in `name`_local)."""
        return f"CREATE OR REPLACE TABLE {name} {self.on_cluster} AS {name}_local {self.distributed(name, statement)}"


def migrations_table_ddl(cluster: str) -> str:
    return ClusterDdl(cluster).render(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
        " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
    )[0]


def render(migrations: list[Migration], cluster: str, ttls: Ttls | None = None) -> list[tuple[Migration, list[str]]]:
    """Every migration's statements rewritten for `cluster`, in order."""
    params = (ttls or Ttls()).params()
    # every migration's tables, applied or not: a pending view may read a table made long ago
    creates = {c[1]: s for m in (*available(), *migrations) for s in m.statements(params) if (c := _CREATE_TABLE.match(s))}
    ddl = ClusterDdl(cluster, frozenset(name for name in creates if name not in REFERENCE_TABLES))
    out = []
    for m in migrations:
        statements = [rendered for s in m.statements(params) for rendered in ddl.render(s)]
        statements += [ddl.reshard(name, creates[name]) for name in RESHARDED.get(m.version, ())]
        out.append((m, statements))
    return out


def migrate_cluster(store: ClickHouseStore, cluster: str, ttls: Ttls | None = None) -> list[Migration]:
    """Apply pending migrations to a server cluster as ON CLUSTER DDL; returns those applied."""
    store.command(migrations_table_ddl(cluster))
    applied = {int(r[0]) for r in store.query(f"SELECT version FROM {MIGRATIONS_TABLE}").rows}
    done = []
    for migration, statements in render([m for m in available() if m.version not in applied], cluster, ttls):
        for statement in statements:
            store.command(statement)
        record_applied(store, migration)
        done.append(migration)
    store.schema_changed()
    load_xid_catalog(store)
    return done
