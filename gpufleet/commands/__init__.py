"""The subcommands, one module each. Add a command by adding its module name here."""

from __future__ import annotations

COMMAND_MODULES: dict[str, str] = {
    "demo": "gpufleet.commands.demo",
    "collect": "gpufleet.commands.collect",
    "db": "gpufleet.commands.db",
    "sql": "gpufleet.commands.sql",
    "schema": "gpufleet.commands.schema",
    "grafana": "gpufleet.commands.grafana",
    "alerts": "gpufleet.commands.alerts",
    "emit": "gpufleet.commands.emit",
    "ingest": "gpufleet.commands.ingest",
    "kafka": "gpufleet.commands.kafka",
    "bridge": "gpufleet.commands.bridge",
    "report": "gpufleet.commands.report",
}
