"""Thermal: hottest GPUs, HBM, thermal throttling, racks (a failing CDU heats a whole rack)."""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import HBM_STEPS, TEMP_STEPS, Json, dashboard, layout, table, timeseries

UID, TITLE = "gpufleet-thermal", "GPU fleet thermal"
DESCRIPTION = "Hottest GPUs, HBM temperature, thermal throttling and racks."


def build() -> Json:
    panels = [
        table("Hottest GPUs", "thermal_hottest", "celsius", width=12, thresholds=TEMP_STEPS),
        table("Racks by peak temperature", "thermal_racks", "celsius", width=12, thresholds=TEMP_STEPS),
        timeseries("GPU core temperature", "thermal_gpu_temp", "celsius", thresholds=TEMP_STEPS),
        timeseries("HBM temperature", "thermal_hbm_temp", "celsius", thresholds=HBM_STEPS),
        timeseries("GPUs in thermal slowdown", "thermal_throttling", "none", min=0),
        timeseries("Rack mean temperature", "thermal_rack_temp", "celsius", thresholds=TEMP_STEPS),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), topology(3), time_from="now-3h")
