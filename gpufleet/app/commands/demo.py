"""`gpufleet demo`: the main job on the embedded default."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gpufleet.app.commands.common import add_fleet_flags, add_format_flag, json_default, non_negative_float
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="synthetic fleet → embedded pipeline → chDB, live, then a summary")
    add_fleet_flags(demo, gpus=2048, scenario="default", interval_help="fleet seconds per tick", duration_help="wall seconds")
    demo.add_argument(
        "--speed",
        type=non_negative_float,
        default=1.0,
        help="fleet time per wall time; 0 = as fast as possible (default: %(default)s)",
    )
    demo.add_argument(
        "--data-dir", type=Path, default=Path("gpufleet-data"), metavar="DIR", help="chDB data directory (default: %(default)s)"
    )
    add_format_flag(demo)
    demo.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="report.html goes here (default: gpufleet-report beside --data-dir)"
    )
    demo.add_argument("--no-report", action="store_true", help="skip the closing report")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from gpufleet.app.demo import DemoOptions, render_summary, run_demo

    opts = DemoOptions(
        gpus=args.gpus,
        duration_s=args.duration,
        interval_s=args.interval,
        speed=args.speed,
        data_dir=args.data_dir,
        seed=args.seed,
        scenario=args.scenario,
        cluster=settings.cluster,
        raw_ttl_days=settings.raw_ttl_days,
        report_dir=None if args.no_report else (args.report_dir or args.data_dir.resolve().parent / "gpufleet-report"),
    )
    result = run_demo(opts, Console(stderr=True))
    if args.format == "json":
        print(json.dumps(_jsonable(result.summary), default=json_default, indent=2))
        if result.report is not None:
            print(f"report: {result.report}", file=sys.stderr)  # stdout stays pure JSON
        return 0
    render_summary(result, Console())
    print(
        f"\nData is in {opts.data_dir}/. Ask it anything, e.g.:\n"
        f"  gpufleet sql --store chdb://{opts.data_dir} --query hottest_gpus "
        f"--param from_ms={result.start_ms} --param to_ms={result.end_ms} --param limit=10"
    )
    if result.summary["top_jobs"].rows:
        job_id = result.summary["top_jobs"].rows[0][1]
        print(f"  gpufleet sql --store chdb://{opts.data_dir} --query job_summary --param job_id={job_id}")
    if result.report is not None:
        print(f"\nReport (open it in a browser, attach it to a ticket): {result.report}")
    return 0


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [dict(zip(value.columns, row, strict=True)) for row in value.rows] if hasattr(value, "columns") else value
        for key, value in summary.items()
    }
