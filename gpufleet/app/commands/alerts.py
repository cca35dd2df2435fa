"""`gpufleet alerts check`: evaluate the Grafana alert rules against the store, print what fires."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gpufleet.app.commands.common import add_format_flag, add_store_flag, positive_float, positive_int, print_result
from gpufleet.contract.settings import Settings
from gpufleet.contract.times import parse_time_ms

if TYPE_CHECKING:
    from dashboards.config import AlertThresholds


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = sub.add_parser("alerts", help="evaluate the alert rules locally")
    actions = alerts.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="run every alert rule's SQL and condition; print the firing instances")
    add_store_flag(check)
    check.add_argument("--at", metavar="TIME", help="evaluate as of TIME: ISO 8601 (UTC if no zone) or epoch ms (default: now)")
    add_format_flag(check, csv=True)
    add_threshold_flags(check)


def add_threshold_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--power-ramp-megawatts-per-s",
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
    parser.add_argument(
        "--stall-min-samples",
        type=positive_int,
        metavar="N",
        help="samples busy with idle SMs before 'GPU stalled' fires (default: 120, 2 min at 1 Hz)",
    )


def thresholds_from(args: argparse.Namespace) -> AlertThresholds:
    from dashboards.config import AlertThresholds

    given = {
        "power_ramp_megawatts_per_s": args.power_ramp_megawatts_per_s,
        "rack_pdu_limit_kw": args.rack_pdu_limit_kw,
        "stall_min_samples": args.stall_min_samples,
    }
    return AlertThresholds(**{name: value for name, value in given.items() if value is not None})


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.evaluate import evaluate
    from storage.registry import open_store

    thresholds = thresholds_from(args)
    at_ms = parse_time_ms("--at", args.at or "now")
    store = open_store(settings.store)
    try:
        firing = evaluate(store, at_ms, thresholds)
    finally:
        store.close()
    rows = [(i.severity, i.rule, i.title, ", ".join(f"{k}={v}" for k, v in i.labels.items()), i.value) for i in firing]
    print_result(["severity", "rule", "title", "labels", "value"], rows, args.format)
    return 0
