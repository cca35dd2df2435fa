"""Jobs: which jobs hold the fleet's GPUs, what they draw, how busy they are, where they run.

Job attribution is a join of the samples' rollups with `gpu_job_intervals` (storage 013),
never labels on samples. The `job` variable picks the jobs of the per-job panels.
"""

from __future__ import annotations

from dashboards.boards.variables import variable
from dashboards.panels import Json, Panel, dashboard, layout, steps, table, timeseries

UID, TITLE = "gpufleet-jobs", "gpufleet jobs"
FLOOR_RACKS = 8  # rack positions per row on the floor map (synthetic rows hold 8; more add up in `more`)
RACK_GPUS = 64
DESCRIPTION = "Jobs on GPUs from Slurm, Kubernetes or mapping files: energy, power, activity, interruptions and placement."


def build() -> Json:
    panels = [
        table("Jobs in the range", "jobs_list", "none", width=24),
        table("Top jobs by energy (kWh)", "jobs_top_energy", "none", width=12),
        table("Interrupted jobs (XIDs, GPUs lost)", "jobs_interruptions", "none", width=12),
        timeseries("Power of the selected jobs", "jobs_power", "kwatt", min=0),
        timeseries("Utilization of the selected jobs (mean, least busy GPU)", "jobs_activity", "percent", min=0, max=100),
        floor_map(),
        table("Where the selected jobs run (hall, rack)", "jobs_placement", "none", width=24),
    ]
    return dashboard(
        UID, TITLE, DESCRIPTION, _plain_label_cells(layout(panels)), [variable("cluster"), variable("job")], time_from="now-6h"
    )


def floor_map() -> Panel:
    """The selected jobs on the floor: a table of rows by rack position, each cell coloured by the GPUs held there.

    Grafana has no floor-plan panel; a table whose cells are coloured by thresholds is the
    native status grid (rows of racks as on the floor), and a blank cell is a rack the jobs
    do not use.
    """
    cells = ", ".join(f"nullIf(sumIf(j.gpus, f.position = {p}), 0) AS `{p}`" for p in range(1, FLOOR_RACKS + 1))
    cells += f", nullIf(sumIf(j.gpus, f.position > {FLOOR_RACKS}), 0) AS more"
    custom = {"align": "center", "cellOptions": {"type": "color-background", "mode": "basic"}}
    return Panel(
        "table", "Floor map of the selected jobs (GPUs per rack, rows of racks)", "jobs_floor", "none", width=24, height=10,
        thresholds=steps((None, "transparent"), (1, "light-blue"), (RACK_GPUS // 2, "blue"), (RACK_GPUS, "dark-blue")),
        values={"cells": cells}, custom=custom, min=0, max=RACK_GPUS,
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
    )  # fmt: skip


def _plain_label_cells(panels: list[Json]) -> list[Json]:
    """The floor map's hall and row columns stay uncoloured (Panel has no overrides of its own)."""
    for panel in panels:
        if panel["title"].startswith("Floor map"):
            panel["fieldConfig"]["overrides"] = [
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [{"id": "custom.cellOptions", "value": {"type": "auto"}}],
                }
                for name in ("hall", "row")
            ]
    return panels
