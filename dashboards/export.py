"""Write the provisioning tree Grafana reads at start (`gpufleet grafana export --out DIR`).

    DIR/provisioning/datasources/gpufleet.yaml      → /etc/grafana/provisioning/datasources/
    DIR/provisioning/dashboards/gpufleet.yaml       → /etc/grafana/provisioning/dashboards/
    DIR/provisioning/alerting/gpufleet-rules.yaml   → /etc/grafana/provisioning/alerting/
    DIR/provisioning/alerting/gpufleet-notifications.yaml   (only with notifications=True)
    DIR/dashboards/<uid>.json                       → /var/lib/grafana/dashboards/gpufleet/

The notification file (webhook contact points and a severity policy tree) is opt-in, as on
`deploy`: Grafana's provisioned policy tree replaces the organisation's, which on a site's
existing Grafana would reroute every alert it already has.

compose.yaml mounts `DIR/provisioning` and `DIR/dashboards` there. The output is
deterministic (sorted keys, no timestamps), so a golden-file test pins it and a diff of two
exports shows exactly what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dashboards.boards import all_dashboards
from dashboards.config import AlertThresholds, DatasourceConfig
from dashboards.provisioning import (
    DASHBOARDS_PATH,
    dashboard_provider_file,
    datasource_file,
    notifications_file,
    rule_groups_file,
)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the SQL) as `|` blocks, so the YAML reads like the .sql files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def to_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=200)


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def provisioning_tree(
    datasource: DatasourceConfig | None = None,
    thresholds: AlertThresholds | None = None,
    dashboards_path: str = DASHBOARDS_PATH,
    notifications: bool = False,
) -> dict[str, str]:
    """Relative path → file text, for everything `export` writes; `dashboards_path` is where
    Grafana will see the `dashboards/` folder; `notifications` adds contact points and policy."""
    datasource = datasource or DatasourceConfig()
    thresholds = thresholds or AlertThresholds()
    files = {
        "provisioning/datasources/gpufleet.yaml": to_yaml(datasource_file(datasource)),
        "provisioning/dashboards/gpufleet.yaml": to_yaml(dashboard_provider_file(dashboards_path)),
        "provisioning/alerting/gpufleet-rules.yaml": to_yaml(rule_groups_file(thresholds)),
    }
    if notifications:
        files["provisioning/alerting/gpufleet-notifications.yaml"] = to_yaml(notifications_file())
    for board in all_dashboards():
        files[f"dashboards/{board['uid']}.json"] = to_json(board)
    return files


def export(
    out: Path,
    datasource: DatasourceConfig | None = None,
    thresholds: AlertThresholds | None = None,
    dashboards_path: str = DASHBOARDS_PATH,
    notifications: bool = False,
) -> list[Path]:
    """Write the tree under `out` (created if needed); returns the files written."""
    written = []
    for relative, text in provisioning_tree(datasource, thresholds, dashboards_path, notifications).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
