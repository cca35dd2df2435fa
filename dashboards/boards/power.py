"""Power: fleet, hall and rack power per second, ramp rates, checkpoint dips, caps and brakes.

Tens of thousands of GPUs change power together (checkpoints, collective waits, job starts),
so the fleet swings by tens of megawatts within seconds; utilities care about the MW/s ramp
(shared/reference/fleet-numbers.md §5). Everything here reads the per-second power rollups.
"""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import Json, dashboard, layout, table, timeseries

UID, TITLE = "gpufleet-power", "GPU fleet power"
DESCRIPTION = "Fleet, hall and rack power per second; ramp rates; checkpoint dips; caps and brakes."


def build() -> Json:
    panels = [
        timeseries("Fleet power per second", "power_fleet_1s", "megwatt", width=24, min=0),
        timeseries("Power ramp rate", "power_ramp", "suffix: MW/s", decimals=3),
        timeseries("Hall power", "power_hall", "megwatt", min=0),
        timeseries("Rack power", "power_rack", "kwatt", min=0),
        timeseries("GPUs at power cap / power brake", "power_cap_brake", "none", min=0),
        table("Deepest power dips (per minute)", "power_dips", "megwatt", width=12, decimals=3),
        table("Nodes with hardware power brake", "power_brake_nodes", "none", width=12),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), topology(3), time_from="now-30m")
