"""Node and GPU drill-down: pick cluster → hall → rack → node → GPU and see every metric.

One panel per metric, from the table `dashboards/queries/drilldown_metrics.csv`, so a new
column gets a panel with one line there and no other SQL file: the panel SQL is the
template `drilldown_metric.sql` with the metric's expression filled in.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from dashboards.boards.variables import topology
from dashboards.panels import HBM_STEPS, OK_STEPS, TEMP_STEPS, Json, Panel, dashboard, layout, table, timeseries

UID, TITLE = "gpufleet-gpu", "GPU drill-down"
DESCRIPTION = "Every metric of the selected node's GPUs: pick cluster, hall, rack, node and GPU."


_THRESHOLDS: dict[str, Json] = {"ok": OK_STEPS, "temp": TEMP_STEPS, "hbm": HBM_STEPS}


def _metric_table() -> tuple[tuple[str, str, str, str, Json], ...]:
    """`dashboards/queries/drilldown_metrics.csv`: (title, unit, column expression, alias,
    thresholds) per panel. Gauges are averaged per interval, counters show their increase
    within it (max - min). Units follow NVML's native ones, scaled for display."""
    text = resources.files("dashboards.queries").joinpath("drilldown_metrics.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return tuple((r["title"], r["unit"], r["expr"], r["alias"], _THRESHOLDS[r["thresholds"]]) for r in rows)


METRIC_PANELS = _metric_table()


def metric_panels() -> list[Panel]:
    return [
        timeseries(title, "drilldown_metric", unit, width=8, thresholds=thresholds, values={"expr": expr, "alias": alias})
        for title, unit, expr, alias, thresholds in METRIC_PANELS
    ]


def build() -> Json:
    items: list[Panel | str] = [
        table("Latest sample", "drilldown_latest", "none", height=6),
        table("Inventory", "drilldown_inventory", "none", height=6),
        "Metrics",
        *metric_panels(),
        "Events",
        table("Events of the selected nodes", "drilldown_events", "none"),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(items), topology(5), time_from="now-30m")
