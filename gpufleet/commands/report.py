"""`gpufleet report`: an offline fleet health report for a time window (report.html + PNGs)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

from gpufleet.commands.common import add_store_flag, positive_int
from gpufleet.errors import ConfigError
from gpufleet.settings import Settings

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhd]))?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="write an offline fleet health report (report.html with its PNGs beside it)")
    add_store_flag(report)
    report.add_argument(
        "--from",
        dest="from_time",
        metavar="TIME",
        help="window start: ISO 8601 (UTC if no zone), epoch ms, now-6h (default: 24 h before --to, or the first sample)",
    )
    report.add_argument(
        "--to", dest="to_time", metavar="TIME", help="window end, same forms as --from (default: the last stored sample)"
    )
    report.add_argument(
        "--out", type=Path, default=Path("gpufleet-report"), metavar="DIR", help="output directory (default: %(default)s)"
    )
    report.add_argument(
        "--alert-evaluations",
        type=positive_int,
        default=None,
        metavar="N",
        help="most instants each alert rule is evaluated at across the window (default: 2)",
    )


def parse_time(flag: str, text: str | None, now_ms: int | None = None) -> int | None:
    """Epoch ms from ISO 8601 (naive = UTC), epoch ms digits, `now` or `now-90s|15m|6h|7d`; None stays None."""
    if text is None:
        return None
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return now - (int(relative[1]) * _UNIT_S[relative[2]] * 1000 if relative[1] else 0)
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a time: use ISO 8601 (2026-11-28T13:45:00Z), epoch ms or now-6h") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gpufleet.report.build import ReportOptions, write_report
    from storage.clickhouse import ClickHouseStore

    options = ReportOptions(
        out_dir=args.out,
        from_ms=parse_time("--from", args.from_time),
        to_ms=parse_time("--to", args.to_time),
    )
    if args.alert_evaluations is not None:
        options = replace(options, max_alert_evaluations=args.alert_evaluations)
    store = ClickHouseStore.open(settings.store)
    try:
        result = write_report(store, options)
    finally:
        store.close()
    spent = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items())
    print(f"report: {len(result.images)} images, report.json beside it ({spent})", file=sys.stderr)
    print(result.html_path)
    return 0
