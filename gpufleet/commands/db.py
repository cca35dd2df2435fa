"""`gpufleet db migrate | status`: versioned schema management."""

from __future__ import annotations

import argparse

from gpufleet.commands.common import OneLineParser, add_store_flag
from gpufleet.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="schema management")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=OneLineParser)
    add_store_flag(db_sub.add_parser("migrate", help="apply pending schema migrations"))
    add_store_flag(db_sub.add_parser("status", help="list migrations and whether each is applied"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.clickhouse import ClickHouseStore
    from storage.migrations import migrate, status

    store = ClickHouseStore.open(settings.store)
    try:
        if args.db_command == "migrate":
            applied = migrate(store, raw_ttl_days=settings.raw_ttl_days)
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
