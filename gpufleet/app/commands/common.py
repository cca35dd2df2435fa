"""Helpers every subcommand uses: typed flag parsers and result printing."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from gpufleet.contract.settings import Settings


class Command(Protocol):
    """A subcommand module: `register` adds its parser, `run` does the work."""

    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...

    def run(self, args: argparse.Namespace, settings: Settings) -> int: ...


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit code 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    value = int(_parse(int, text, "a whole number"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = float(_parse(float, text, "a number"))
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = float(_parse(float, text, "a number"))
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be zero or a positive number, got {text!r}")
    return value


def _parse(kind: Callable[[str], Any], text: str, what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", help="store DSN: chdb://PATH or http(s)://host:8123 (default: settings, chdb://./gpufleet-data)"
    )


def json_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def print_result(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Rows as a table (rich), CSV with a header, or a JSON list of objects."""
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=json_default, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table()
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*(str(v) for v in r))
        Console().print(table)
