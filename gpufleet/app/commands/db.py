"""`gpufleet db migrate | status | users`: versioned schema management.

`migrate --cluster NAME` renders the same migrations as ON CLUSTER DDL (Replicated engines,
Distributed tables sharded by node; storage/cluster.py) and applies them to a server, or,
with `--print`, only prints them. `users` prints the least-privilege users and grants for a
server (storage/access.py).
"""

from __future__ import annotations

import argparse

from gpufleet.app.commands.common import OneLineParser, add_store_flag
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="schema management")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=OneLineParser)
    migrate = db_sub.add_parser("migrate", help="apply pending schema migrations")
    add_store_flag(migrate)
    migrate.add_argument("--cluster", metavar="NAME", help="render ON CLUSTER DDL for a server cluster named NAME")
    migrate.add_argument("--print", action="store_true", help="with --cluster: print the DDL, apply nothing")
    add_store_flag(db_sub.add_parser("status", help="list migrations and whether each is applied"))
    users = db_sub.add_parser("users", help="print least-privilege DDL: ingest (INSERT raw) and Grafana (SELECT) users")
    users.add_argument("--database", default="default", help="database the grants cover (default: %(default)s)")
    users.add_argument("--cluster", metavar="NAME", help="add ON CLUSTER NAME")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_command == "users":
        from storage.access import render_users

        for statement in render_users(args.database, args.cluster):
            print(statement + ";")
        return 0
    if args.db_command == "migrate" and args.cluster:
        return _migrate_cluster(args, settings)
    if getattr(args, "print", False):
        raise ConfigError("--print renders cluster DDL: give --cluster NAME too")
    return _migrate_or_status(args, settings)


def _ttls(settings: Settings) -> dict[str, int]:
    return {
        "raw_ttl_days": settings.raw_ttl_days,
        "minute_ttl_days": settings.minute_ttl_days,
        "hour_ttl_days": settings.hour_ttl_days,
    }


def _migrate_or_status(args: argparse.Namespace, settings: Settings) -> int:
    from storage.migrations import migrate, status
    from storage.registry import open_store

    store = open_store(settings.store)
    try:
        if args.db_command == "migrate":
            applied = migrate(store, **_ttls(settings))
            for m in applied:
                print(f"applied {m.version:03d}_{m.name}")
            if not applied:
                print("schema is up to date")
        else:
            for state in status(store):
                mark = "applied" if state.applied else "pending"
                drift = "" if state.checksum_ok else " (file changed since it was applied)"
                print(f"{state.version:03d}_{state.name}: {mark}{drift}")
    finally:
        store.close()
    return 0


def _migrate_cluster(args: argparse.Namespace, settings: Settings) -> int:
    from storage.cluster import migrate_cluster, migrations_table_ddl, render
    from storage.migrations import Ttls, available

    ttls = Ttls(settings.raw_ttl_days, settings.minute_ttl_days, settings.hour_ttl_days)
    if args.print:
        print(f"-- gpufleet schema for cluster {args.cluster!r}\n{migrations_table_ddl(args.cluster)};")
        for migration, statements in render(available(), args.cluster, ttls):
            print(f"\n-- {migration.version:03d}_{migration.name}")
            for statement in statements:
                print(statement + ";")
        return 0
    from storage.registry import open_store, store_factory

    if not store_factory(settings.store).server:
        raise ConfigError(f"--cluster needs a ClickHouse server store (http(s)://...), not {settings.store!r}; use --print")

    store = open_store(settings.store)
    try:
        for m in migrate_cluster(store, args.cluster, ttls):
            print(f"applied {m.version:03d}_{m.name} on cluster {args.cluster!r}")
    finally:
        store.close()
    return 0
