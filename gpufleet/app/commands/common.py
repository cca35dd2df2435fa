"""Helpers every subcommand uses: typed flag parsers and result printing."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from gpufleet.contract.settings import Settings

if TYPE_CHECKING:
    from collectors.base import SourceConfig


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


def add_kafka_flag(parser: argparse.ArgumentParser, help: str = "host:port[,...] (default: GPUFLEET_KAFKA__BOOTSTRAP)") -> None:
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help=help)


def add_fleet_flags(
    parser: argparse.ArgumentParser,
    *,
    gpus: int,
    scenario: str,
    interval_help: str = "seconds between samples",
    duration_help: str | None = None,
    prefix: str = "",
) -> None:
    """--gpus, --interval, --seed, --scenario (and --duration, 60 s, given its help): what a
    synthetic fleet is built from (`source_config`)."""
    parser.add_argument("--gpus", type=positive_int, default=gpus, help=f"{prefix}fleet size (default: %(default)s)")
    parser.add_argument(
        "--interval", type=positive_float, default=1.0, metavar="SEC", help=f"{interval_help} (default: %(default)s)"
    )
    if duration_help:
        parser.add_argument(
            "--duration", type=positive_float, default=60.0, metavar="SEC", help=f"{duration_help} (default: %(default)s)"
        )
    parser.add_argument("--seed", type=int, default=0, help=f"{prefix}random seed (default: %(default)s)")
    parser.add_argument(
        "--scenario", default=scenario, help=f"{prefix}default | none | path of a scenario TOML (default: %(default)s)"
    )


def source_config(args: argparse.Namespace, settings: Settings, **fields: Any) -> SourceConfig:
    """The `SourceConfig` behind `add_fleet_flags`; `fields` add or override the rest (kind, start_ms, ...)."""
    from collectors.base import SourceConfig

    base: dict[str, Any] = {
        "gpus": args.gpus,
        "seed": args.seed,
        "scenario": args.scenario,
        "interval_s": args.interval,
        "cluster": settings.cluster,
    }
    return SourceConfig(**(base | fields))


def add_service_flags(parser: argparse.ArgumentParser) -> None:
    """--metrics-port and --stats-interval: how a long-running process reports itself."""
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus /metrics on PORT (default: off)")
    parser.add_argument(
        "--stats-interval",
        type=non_negative_float,
        default=10.0,
        metavar="SEC",
        help="stats line every SEC, 0 = off (default: %(default)s)",
    )


def add_publish_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of a process that publishes to Kafka (`emit`, `collect --kafka`)."""
    parser.add_argument(
        "--buffer-messages", type=positive_int, default=50_000, help="messages held while Kafka is away (default: %(default)s)"
    )
    parser.add_argument(
        "--flush-timeout",
        type=non_negative_float,
        default=30.0,
        metavar="SEC",
        help="wait at exit for delivery (default: %(default)s)",
    )
    add_service_flags(parser)


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
