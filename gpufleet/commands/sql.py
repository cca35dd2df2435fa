"""`gpufleet sql`: ad-hoc SQL or a named query, parameters bound by ClickHouse."""

from __future__ import annotations

import argparse

from gpufleet.commands.common import add_store_flag, print_result
from gpufleet.errors import ConfigError
from gpufleet.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sql = sub.add_parser("sql", help="run SQL or a named query against the store")
    sql.add_argument("statement", nargs="?", help="SQL text; bind values with {name:Type} and --param")
    sql.add_argument("--query", metavar="NAME", help="run a named query (see --list)")
    sql.add_argument("--list", action="store_true", help="list the named queries")
    sql.add_argument("--param", action="append", default=[], metavar="K=V", help="bind a parameter (repeatable)")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default: %(default)s)")
    add_store_flag(sql)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage import queries
    from storage.clickhouse import ClickHouseStore

    if args.list:
        for named in queries.catalog().values():
            print(f"{named.name}\n    {named.description}")
        return 0
    if bool(args.statement) == bool(args.query):
        raise ConfigError("give either SQL text or --query NAME (see --list)")
    text = queries.get(args.query).text if args.query else args.statement
    store = ClickHouseStore.open(settings.store)
    try:
        result = store.query(text, parse_params(args.param))
    finally:
        store.close()
    print_result(result.columns, result.rows, args.format)
    return 0


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param takes NAME=VALUE, got {pair!r}")
        params[key] = value
    return params
