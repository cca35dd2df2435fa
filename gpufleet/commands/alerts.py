"""`gpufleet alerts check`: evaluate the Grafana alert rules against the store, print what fires."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import TYPE_CHECKING

from gpufleet.commands.common import add_store_flag, positive_float, print_result
from gpufleet.errors import ConfigError
from gpufleet.settings import Settings

if TYPE_CHECKING:
    from dashboards.config import AlertThresholds


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = sub.add_parser("alerts", help="evaluate the alert rules locally")
    actions = alerts.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="run every alert rule's SQL and condition; print the firing instances")
    add_store_flag(check)
    check.add_argument("--at", metavar="TIME", help="evaluate as of TIME: ISO 8601 (UTC if no zone) or epoch ms (default: now)")
    check.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default: %(default)s)")
    add_threshold_flags(check)


def add_threshold_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--power-ramp-mw-s",
        type=positive_float,
        metavar="MW_PER_S",
        help="fleet power swing alert threshold in MW/s (default: 10)",
    )
    parser.add_argument(
        "--rack-pdu-limit-kw",
        type=positive_float,
        metavar="KW",
        help="power one rack's PDUs may deliver; the rack power alert warns at 90 %% of it (default: 80)",
    )


def thresholds_from(args: argparse.Namespace) -> AlertThresholds:
    from dashboards.config import AlertThresholds

    given = {"power_ramp_mw_per_s": args.power_ramp_mw_s, "rack_pdu_limit_kw": args.rack_pdu_limit_kw}
    return AlertThresholds(**{name: value for name, value in given.items() if value is not None})


def parse_time_ms(text: str | None) -> int:
    """Epoch ms from `text` (ISO 8601, naive = UTC, or an integer of epoch ms); now when None."""
    if text is None or text == "now":
        return int(time.time() * 1000)
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r} is neither ISO 8601 (2026-11-28T13:45:00Z) nor epoch milliseconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.evaluate import evaluate
    from storage.clickhouse import ClickHouseStore

    thresholds = thresholds_from(args)
    at_ms = parse_time_ms(args.at)
    store = ClickHouseStore.open(settings.store)
    try:
        firing = evaluate(store, at_ms, thresholds)
    finally:
        store.close()
    rows = [(i.severity, i.rule, i.title, ", ".join(f"{k}={v}" for k, v in i.labels.items()), i.value) for i in firing]
    print_result(["severity", "rule", "title", "labels", "value"], rows, args.format)
    return 0
