"""Jobs: which jobs hold the fleet's GPUs, what they draw, how busy they are, where they run.

Job attribution is a join of the samples' rollups with `gpu_job_intervals` (storage 013),
never labels on samples. The `job` variable picks the jobs of the per-job panels.
"""

from __future__ import annotations

from dashboards.boards.variables import variable
from dashboards.panels import Json, dashboard, layout, table, timeseries

UID, TITLE = "gpufleet-jobs", "gpufleet jobs"
DESCRIPTION = "Jobs on GPUs from Slurm, Kubernetes or mapping files: energy, power, activity, interruptions and placement."


def build() -> Json:
    panels = [
        table("Jobs in the range", "jobs_list", "none", width=24),
        table("Top jobs by energy (kWh)", "jobs_top_energy", "none", width=12),
        table("Interrupted jobs (XIDs, GPUs lost)", "jobs_interruptions", "none", width=12),
        timeseries("Power of the selected jobs", "jobs_power", "kwatt", min=0),
        timeseries("Utilization of the selected jobs (mean, least busy GPU)", "jobs_activity", "percent", min=0, max=100),
        table("Where the selected jobs run (hall, rack)", "jobs_placement", "none", width=24),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), [variable("cluster"), variable("job")], time_from="now-6h")
