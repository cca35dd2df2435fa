"""Pipeline health: ingest lag, freshness, throughput, dead letters, stale nodes."""

from __future__ import annotations

from dashboards.boards.variables import topology
from dashboards.panels import COUNT_STEPS, TABLE, Json, bars, dashboard, layout, stat, steps, table, timeseries

UID, TITLE = "gpufleet-pipeline", "gpufleet pipeline health"
DESCRIPTION = "Ingest lag, freshness, throughput and dead letters of the collector → Kafka → ClickHouse pipeline."
FRESHNESS_STEPS = steps((None, "green"), (30, "orange"), (60, "red"))  # alert at 60 s behind


def build() -> Json:
    panels = [
        stat(
            "Freshness (newest sample behind range end)",
            "pipeline_freshness",
            "s",
            width=8,
            fmt=TABLE,
            thresholds=FRESHNESS_STEPS,
        ),
        stat("Nodes reporting / stale", "pipeline_nodes", "none", width=8, fmt=TABLE),
        stat("Stale nodes", "pipeline_nodes", "none", width=8, fmt=TABLE, thresholds=COUNT_STEPS, field="nodes_stale"),
        timeseries("Ingest lag (sample to stored)", "pipeline_ingest_lag", "s", thresholds=FRESHNESS_STEPS, min=0),
        timeseries("GPU rows stored per second", "pipeline_rows", "none", min=0),
        bars("Dead letters", "pipeline_dead_letters", "none"),
        table("Newest dead letters", "pipeline_dead_letter_list", "none", width=12),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(panels), topology(1), time_from="now-1h")
