"""Reliability: XIDs with meaning and action, ECC and row remapping, lost GPUs, links."""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import COUNT_STEPS, TABLE, Json, bars, dashboard, layout, stat, table

UID, TITLE = "gpufleet-reliability", "GPU fleet reliability"
DESCRIPTION = "XIDs with NVIDIA's recommended action, ECC and row remapping, lost GPUs, PCIe and NVLink errors."


def build() -> Json:
    panels = [
        stat("GPUs lost", "reliability_gpus_lost_count", "none", width=4, fmt=TABLE, thresholds=COUNT_STEPS),
        table("GPUs lost (fell off the bus / stopped answering)", "reliability_gpus_lost", "none", width=20, height=5),
        table("XID bursts (a burst ends after > 3 min without an XID)", "reliability_xid_bursts", "none", height=8),
        table("XID events, meaning and recommended action", "reliability_xids", "none", height=10),
        table("ECC errors and row remapping", "reliability_ecc", "none", thresholds=COUNT_STEPS),
        bars("PCIe replays", "reliability_pcie_replays", "none"),
        bars("NVLink errors", "reliability_nvlink_errors", "none"),
        table("GPUs with the most link errors", "reliability_link_top", "none"),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), topology(2), time_from="now-24h")
