"""Node and GPU drill-down: pick cluster → hall → rack → node → GPU and see every metric.

One panel per metric group, generated from the metric column list (gpufleet/columns.py),
so a new column gets a panel here without another SQL file: the panel SQL is the template
`drilldown_metric.sql` with the metric's expression filled in.
"""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import HBM_STEPS, OK_STEPS, TEMP_STEPS, Json, Panel, dashboard, layout, table, timeseries

UID, TITLE = "gpufleet-gpu", "GPU drill-down"
DESCRIPTION = "Every metric of the selected node's GPUs: pick cluster, hall, rack, node and GPU."


def _increase(counter: str) -> str:
    """A counter's increase within the interval."""
    return f"max({counter}) - min({counter})"


# (title, unit, [(column expression, alias)], thresholds): gauges are averaged per interval,
# counters show their increase within it. Units follow NVML's native ones, scaled for display.
METRIC_PANELS: tuple[tuple[str, str, str, str, Json], ...] = (
    ("Power (1 s average)", "watt", "avg(power_mw) / 1000", "power_w", OK_STEPS),
    ("Power (instant)", "watt", "avg(power_instant_mw) / 1000", "power_instant_w", OK_STEPS),
    ("Power limit", "watt", "max(power_limit_mw) / 1000", "power_limit_w", OK_STEPS),
    ("Energy used", "joule", "(max(energy_mj) - min(energy_mj)) / 1000", "energy_j", OK_STEPS),
    ("GPU temperature", "celsius", "max(gpu_temp_c)", "gpu_temp_c", TEMP_STEPS),
    ("HBM temperature", "celsius", "max(mem_temp_c)", "mem_temp_c", HBM_STEPS),
    ("GPU utilization", "percent", "avg(util_gpu_pct)", "util_gpu_pct", OK_STEPS),
    ("Memory utilization", "percent", "avg(util_mem_pct)", "util_mem_pct", OK_STEPS),
    ("Memory used", "mbytes", "avg(mem_used_mib)", "mem_used_mib", OK_STEPS),
    ("Memory total", "mbytes", "max(mem_total_mib)", "mem_total_mib", OK_STEPS),
    ("SM clock", "rotmhz", "avg(sm_clock_mhz)", "sm_clock_mhz", OK_STEPS),
    ("Memory clock", "rotmhz", "avg(mem_clock_mhz)", "mem_clock_mhz", OK_STEPS),
    ("Clocks-event reasons (bitmask OR)", "hex0x", "groupBitOr(clocks_event_reasons)", "clocks_event_reasons", OK_STEPS),
    ("Performance state", "none", "max(pstate)", "pstate", OK_STEPS),
    ("Correctable ECC errors (new)", "none", _increase("ecc_corrected_count"), "ecc_corrected", OK_STEPS),
    ("Uncorrectable ECC errors (new)", "none", _increase("ecc_uncorrected_count"), "ecc_uncorrected", OK_STEPS),
    ("Remapped rows (correctable)", "none", "max(remapped_rows_correctable)", "remapped_rows_correctable", OK_STEPS),
    ("Remapped rows (uncorrectable)", "none", "max(remapped_rows_uncorrectable)", "remapped_rows_uncorrectable", OK_STEPS),
    ("Row remap pending", "bool", "max(toUInt8(remap_pending))", "remap_pending", OK_STEPS),
    ("Row remap failure", "bool", "max(toUInt8(remap_failure))", "remap_failure", OK_STEPS),
    ("PCIe TX", "KBs", "avg(pcie_tx_kbps)", "pcie_tx_kbps", OK_STEPS),
    ("PCIe RX", "KBs", "avg(pcie_rx_kbps)", "pcie_rx_kbps", OK_STEPS),
    ("PCIe replays (new)", "none", _increase("pcie_replay_count"), "pcie_replays", OK_STEPS),
    ("NVLink TX", "kbytes", _increase("nvlink_tx_kib"), "nvlink_tx_kib", OK_STEPS),
    ("NVLink RX", "kbytes", _increase("nvlink_rx_kib"), "nvlink_rx_kib", OK_STEPS),
    ("NVLink CRC errors (new)", "none", _increase("nvlink_crc_errors"), "nvlink_crc_errors", OK_STEPS),
    ("NVLink replay errors (new)", "none", _increase("nvlink_replay_errors"), "nvlink_replay_errors", OK_STEPS),
    ("NVLink recovery errors (new)", "none", _increase("nvlink_recovery_errors"), "nvlink_recovery_errors", OK_STEPS),
)


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
