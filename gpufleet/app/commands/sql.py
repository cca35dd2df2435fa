"""`gpufleet sql`: ad-hoc SQL or a named query, parameters bound by ClickHouse.

Read-only unless `--write`: the statement runs with ClickHouse's `readonly = 2`, so the
engine itself refuses INSERT, ALTER, DROP and the rest (a client-side statement parser could
be fooled; the engine cannot), while SELECT and per-query settings still work. A refused
write or a syntax error prints ClickHouse's message on one line and exits 1.
"""

from __future__ import annotations

import argparse

from gpufleet.app.commands.common import add_format_flag, add_store_flag, print_result
from gpufleet.contract.errors import ConfigError, StoreError
from gpufleet.contract.settings import Settings

READ_ONLY = {"readonly": 2}  # 1 would also forbid the settings clickhouse-connect sends
_READONLY_CODE = "Code: 164."


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sql = sub.add_parser("sql", help="run SQL or a named query against the store (read-only unless --write)")
    sql.add_argument("statement", nargs="?", help="SQL text; bind values with {name:Type} and --param")
    sql.add_argument("--query", metavar="NAME", help="run a named query (see --list)")
    sql.add_argument("--list", action="store_true", help="list the named queries, their parameters and defaults")
    sql.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="bind a parameter (repeatable); *_ms takes now-24h"
    )
    sql.add_argument("--write", action="store_true", help="allow statements that change data or schema")
    add_format_flag(sql, csv=True)
    add_store_flag(sql)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage import queries
    from storage.registry import open_store

    if args.list:
        for named in queries.catalog().values():
            print(f"{named.name}({named.signature()})\n    {named.description}")
        return 0
    if bool(args.statement) == bool(args.query):
        raise ConfigError("give either SQL text or --query NAME (see --list)")
    params: dict[str, object] = dict(parse_params(args.param))
    if args.query:
        named = queries.get(args.query)
        params = named.bind(params)
        text = named.sql(params)
    else:
        text = args.statement
    store = open_store(settings.store)
    try:
        result = store.query(text, params, settings=None if args.write else READ_ONLY)
    except StoreError as exc:
        if _READONLY_CODE in str(exc):
            raise StoreError(f"refused: `gpufleet sql` is read-only without --write ({exc})") from exc
        raise
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
