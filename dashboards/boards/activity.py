"""GPU activity: what the GPUs are actually doing (GPM SM, tensor and DRAM activity).

`utilization.gpu` only says a kernel ran; GPM activity says how much of the GPU worked. The
fleet view shows the distribution of SM, tensor and DRAM activity across GPUs, the GPUs busy
with idle SMs (the "GPU stalled" signature) and those whose driver asks for recovery; the
per-node row drills into one node's GPUs.
"""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import TABLE, Json, dashboard, heatmap, layout, stat, table, timeseries

UID = "gpufleet-activity"


def build() -> Json:
    panels = layout(
        [
            stat("Stalled GPUs (busy, SMs idle >= 2 min)", "activity_stalled_now", "none", width=6, fmt=TABLE),
            stat("GPUs needing recovery", "activity_recovery_now", "none", width=6, fmt=TABLE),
            timeseries(
                "Utilization vs SM, tensor and DRAM activity (fleet mean)", "activity_fleet", "percent", width=12, min=0, max=100
            ),
            heatmap("SM activity distribution", "activity_sm_heatmap", "percent", (0, 100, 10), width=8),
            heatmap("Tensor activity distribution", "activity_tensor_heatmap", "percent", (0, 100, 10), width=8),
            heatmap("DRAM bandwidth distribution", "activity_dram_heatmap", "percent", (0, 100, 10), width=8),
            table("Busy but idle: utilization high, SMs idle", "activity_busy_idle", "none", width=12),
            table("GPUs whose driver asks for recovery", "activity_recovery", "none", width=12),
            "Per node",
            timeseries("SM, tensor and DRAM activity per GPU of the selected nodes", "activity_node", "percent", width=24),
        ]
    )
    return dashboard(
        UID,
        "GPU activity",
        "What the GPUs are doing: GPM SM, tensor and DRAM activity; stalled GPUs; recovery actions.",
        panels,
        topology(4),
        time_from="now-1h",
    )
