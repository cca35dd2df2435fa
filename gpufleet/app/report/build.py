"""Write a report: query, evaluate alerts, draw, and write report.html, the PNGs and report.json.

report.json carries the structured content behind the page (the floor map's cells, the
XID events, the fired alerts, the images' sizes), so that tests and tools can check what the
report says without parsing HTML or pixels.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboards.config import AlertThresholds
from gpufleet.app.report.alerts import MAX_EVALUATIONS, FiredAlert, fired_in_window
from gpufleet.app.report.data import ReportData, collect, records, resolve_window
from gpufleet.app.report.floor import hottest
from gpufleet.app.report.html import render
from gpufleet.app.report.plots import Image, render_all
from storage.base import Store

HTML_NAME = "report.html"
JSON_NAME = "report.json"


@dataclass(frozen=True, slots=True)
class ReportOptions:
    out_dir: Path = Path("gpufleet-report")
    from_ms: int | None = None  # None: 24 h before `to_ms`, or the first stored sample if later
    to_ms: int | None = None  # None: the last stored sample
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    max_alert_evaluations: int = MAX_EVALUATIONS


@dataclass(frozen=True, slots=True)
class ReportResult:
    html_path: Path
    json_path: Path
    images: list[Path]
    timings_s: dict[str, float]  # queries, alerts, plots, write: where the time went


def write_report(store: Store, options: ReportOptions) -> ReportResult:
    """Build the report for the options' window; `ConfigError` (exit 2) when there is nothing to show."""
    started = time.perf_counter()
    window, extent = resolve_window(store, options.from_ms, options.to_ms)
    data = collect(store, window, extent)
    queried = time.perf_counter()
    alerts, coverage = fired_in_window(
        store, window.from_ms, window.to_ms, options.thresholds, max_evaluations=options.max_alert_evaluations
    )
    evaluated = time.perf_counter()
    images = render_all(data)
    drawn = time.perf_counter()
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for image in images:
        path = out / image.name
        path.write_bytes(image.png)
        paths.append(path)
    html_path = out / HTML_NAME
    html_path.write_text(render(data, images, alerts, coverage), encoding="utf-8")
    json_path = out / JSON_NAME
    json_path.write_text(json.dumps(sidecar(data, images, alerts), default=str, indent=1), encoding="utf-8")
    timings = {
        "queries": queried - started,
        "alerts": evaluated - queried,
        "plots": drawn - evaluated,
        "write": time.perf_counter() - drawn,
    }
    return ReportResult(html_path, json_path, paths, timings)


def sidecar(data: ReportData, images: list[Image], alerts: list[FiredAlert]) -> dict[str, Any]:
    top = hottest(data.floor)
    hot_supply = hottest(data.floor, "peak_supply_c")
    return {
        "window": {"from_ms": data.window.from_ms, "to_ms": data.window.to_ms},
        "pipeline": data.pipeline,
        "energy_mwh": data.energy_mwh,
        "power_marks": [{"kind": m.kind, "at": m.at, "megawatts": m.megawatts, "size": m.size} for m in data.power_marks],
        "floor": {
            "cells": [c.as_json() for c in data.floor],
            "hottest_rack": top.as_json() if top else None,
            "hottest_supply_rack": hot_supply.as_json() if hot_supply else None,
        },
        "xid_summary": records(data.xid_summary),
        "xid_events": records(data.xid_events),
        "xid_bursts": records(data.xid_bursts),
        "activity": (records(data.activity) or [{}])[0],
        "stalled": records(data.stalled),
        "recovering": records(data.recovering),
        "alerts": [a.as_json() for a in alerts],
        "stragglers": records(data.stragglers),
        "top_jobs": records(data.top_jobs),
        "interrupted_jobs": records(data.interrupted_jobs),
        "throttled": records(data.throttled),
        "images": {i.name: {"width": i.width, "height": i.height, "title": i.title} for i in images},
    }
