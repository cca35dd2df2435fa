"""The subcommands, one module each. Add a command by adding its module name here."""

from __future__ import annotations

COMMAND_MODULES: dict[str, str] = {
    "demo": "gpufleet.app.commands.demo",
    "collect": "gpufleet.app.commands.collect",
    "db": "gpufleet.app.commands.db",
    "sql": "gpufleet.app.commands.sql",
    "schema": "gpufleet.app.commands.schema",
    "grafana": "gpufleet.app.commands.grafana",
    "alerts": "gpufleet.app.commands.alerts",
    "emit": "gpufleet.app.commands.emit",
    "ingest": "gpufleet.app.commands.ingest",
    "kafka": "gpufleet.app.commands.kafka",
    "bridge": "gpufleet.app.commands.bridge",
    "report": "gpufleet.app.commands.report",
    "completion": "gpufleet.app.commands.completion",
    "jobs": "gpufleet.app.commands.jobs",
}
