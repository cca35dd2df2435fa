"""Fleet overview: is the fleet up, how much power, how hot, what is broken."""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import COUNT_STEPS, TABLE, Json, alert_list, bars, dashboard, heatmap, layout, stat, steps, timeseries

UID, TITLE = "gpufleet-overview", "GPU fleet overview"
DESCRIPTION = "Is the fleet up, how much power it draws, how hot it runs, what is broken."


def build() -> Json:
    panels = [
        stat(
            "GPUs reporting / inventory / missing",
            "fleet_gpus_reporting",
            "none",
            width=8,
            fmt=TABLE,
            thresholds=steps((None, "green")),
        ),
        stat("Fleet power now", "fleet_power_now", "megwatt", decimals=3, fmt=TABLE),
        stat("Energy today (UTC)", "fleet_energy_today", "mwatth", decimals=2, fmt=TABLE),
        stat("GPUs missing", "fleet_gpus_reporting", "none", width=4, fmt=TABLE, thresholds=COUNT_STEPS, field="missing"),
        timeseries("Fleet power", "fleet_power", "megwatt", width=24, min=0),
        heatmap("GPU temperature distribution", "fleet_gpu_temp_heatmap", "celsius", (20, 110, 5)),
        heatmap("HBM temperature distribution", "fleet_hbm_temp_heatmap", "celsius", (20, 110, 5)),
        timeseries("Throttled GPUs", "fleet_throttled", "none", min=0),
        bars("XID rate", "fleet_xid_rate", "none"),
    ]
    placed = layout(panels)
    y = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in placed)
    placed.append(alert_list("Active alerts", len(placed) + 1, 0, y, width=24))
    return dashboard(UID, TITLE, DESCRIPTION, placed, topology(1), time_from="now-3h")
