"""`gpufleet report`: an offline fleet health report for a time window (report.html + PNGs)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from gpufleet.app.commands.common import add_store_flag, positive_int
from gpufleet.contract.settings import Settings
from gpufleet.contract.times import parse_time_ms


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
    """Epoch ms for a window bound (`gpufleet.contract.times`); None stays None (use the default)."""
    return None if text is None else parse_time_ms(flag, text, now_ms)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gpufleet.app.report.build import ReportOptions, write_report
    from storage.registry import open_store

    options = ReportOptions(
        out_dir=args.out,
        from_ms=parse_time("--from", args.from_time),
        to_ms=parse_time("--to", args.to_time),
    )
    if args.alert_evaluations is not None:
        options = replace(options, max_alert_evaluations=args.alert_evaluations)
    store = open_store(settings.store)
    try:
        result = write_report(store, options)
    finally:
        store.close()
    spent = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items())
    print(f"report: {len(result.images)} images, report.json beside it ({spent})", file=sys.stderr)
    print(result.html_path)
    return 0
