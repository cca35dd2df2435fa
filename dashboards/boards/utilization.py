"""Utilization and stragglers: busy and idle capacity, and GPUs that slow their jobs down."""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import TABLE, Json, dashboard, heatmap, layout, stat, table, timeseries

UID, TITLE = "gpufleet-utilization", "GPU fleet utilization and stragglers"
DESCRIPTION = "Busy and idle capacity; GPUs that slow their synchronous jobs down."


def build() -> Json:
    panels = [
        stat("Idle GPUs (< 5 % busy) / GPUs", "util_idle", "none", width=6, fmt=TABLE),
        timeseries("GPU utilization by hall", "util_fleet", "percent", width=18, min=0, max=100),
        heatmap("Utilization distribution", "util_heatmap", "percent", (0, 100, 10)),
        timeseries("SM clock by hall (median, 5th percentile)", "util_sm_clock", "rotmhz"),
        table("Stragglers: slow GPUs with no throttle reason", "util_stragglers", "rotmhz"),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), topology(2), time_from="now-1h")
