"""Grafana's provisioning files and API payloads: datasource, dashboard provider, alerting.

File formats follow Grafana's provisioning docs (shared/reference/grafana.md §1-§3). The
same dicts feed `gpufleet grafana export` (YAML and JSON files that Grafana reads at start)
and `gpufleet grafana deploy` (its HTTP API), so the two cannot drift apart.
Secrets are never written: files carry `$GPUFLEET_*` references that Grafana expands from
its environment; the API payloads take them from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.alerts import Json, groups
from dashboards.config import (
    CONTACT_POINT,
    CONTACT_POINT_TICKETS,
    DATASOURCE_NAME,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    EVALUATION_INTERVAL_S,
    FOLDER_TITLE,
    ORG_ID,
    AlertThresholds,
    DatasourceConfig,
)

DASHBOARDS_PATH = "/var/lib/grafana/dashboards/gpufleet"  # where compose.yaml mounts the JSON files
PASSWORD_ENV = "GPUFLEET_GRAFANA_PASSWORD"  # the same variable `gpufleet db users` reads
WEBHOOK_ENV = "GPUFLEET_ALERT_WEBHOOK_URL"


@dataclass(frozen=True, slots=True)
class Secrets:
    """What deploy sends that export only references."""

    clickhouse_password: str = ""
    webhook_url: str = "http://alert-receiver.invalid/gpufleet"


def datasource(config: DatasourceConfig, password: str | None = None) -> Json:
    """The ClickHouse datasource; `password=None` writes Grafana's env reference instead."""
    return {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "orgId": ORG_ID,
        "isDefault": False,  # never take over a site's default datasource; panels name it by uid
        "editable": False,
        "jsonData": {
            "host": config.host,
            "port": config.port,
            "protocol": config.protocol,
            "secure": config.secure,
            "username": config.username,
            "defaultDatabase": config.database,  # the plugin reads this key, not `database`
            "dialTimeout": "10",
            "queryTimeout": "60",
        },
        "secureJsonData": {"password": f"${PASSWORD_ENV}" if password is None else password},
    }


def datasource_file(config: DatasourceConfig) -> Json:
    return {"apiVersion": 1, "datasources": [datasource(config)]}


def dashboard_provider_file(dashboards_path: str = DASHBOARDS_PATH) -> Json:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "gpufleet",
                "orgId": ORG_ID,
                # by title, not uid: Grafana provisions alerting before dashboards, and the rule
                # groups (which name their folder by title) create it first
                "folder": FOLDER_TITLE,
                "type": "file",
                "disableDeletion": False,
                "updateIntervalSeconds": 30,
                "allowUiUpdates": False,  # dashboards are code: edit the Python, not the UI
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


def _escape_env(values: Json) -> Json:
    """Grafana expands `$NAME` in provisioned labels and annotations (not in query models);
    `$$` keeps the `$` of template references such as `{{ $labels.node }}`."""
    return {k: v.replace("$", "$$") for k, v in values.items()}


def rule_groups_file(thresholds: AlertThresholds) -> Json:
    """Alert rule groups in the file format (`folder` by title; rule fields as the API's)."""
    out = []
    for name, rules in groups(thresholds).items():
        file_rules = [
            {
                **{k: v for k, v in rule.items() if k not in ("orgID", "folderUID", "ruleGroup")},
                "labels": _escape_env(rule["labels"]),
                "annotations": _escape_env(rule["annotations"]),
            }
            for rule in rules
        ]
        out.append(
            {"orgId": ORG_ID, "name": name, "folder": FOLDER_TITLE, "interval": f"{EVALUATION_INTERVAL_S}s", "rules": file_rules}
        )
    return {"apiVersion": 1, "groups": out}


def contact_points(webhook_url: str | None = None) -> list[Json]:
    """A webhook per severity: critical pages, warning opens a ticket. Replace the webhook with
    PagerDuty, Opsgenie or Slack receivers as the site uses; the routing stays."""
    url = f"${WEBHOOK_ENV}" if webhook_url is None else webhook_url
    return [
        {
            "orgId": ORG_ID,
            "name": name,
            "receivers": [
                {"uid": uid, "type": "webhook", "disableResolveMessage": False, "settings": {"url": url, "httpMethod": "POST"}}
            ],
        }
        for name, uid in ((CONTACT_POINT, "gpufleet-oncall-webhook"), (CONTACT_POINT_TICKETS, "gpufleet-tickets-webhook"))
    ]


def notification_policy() -> Json:
    """Route by severity; group a node's alerts together so one bad node is one page."""
    return {
        "orgId": ORG_ID,
        "receiver": CONTACT_POINT_TICKETS,
        "group_by": ["alertname", "cluster"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {
                "receiver": CONTACT_POINT,
                "object_matchers": [["severity", "=", "critical"]],
                "group_by": ["alertname", "cluster", "node"],
                "group_wait": "10s",
                "repeat_interval": "1h",
            },
            {"receiver": CONTACT_POINT_TICKETS, "object_matchers": [["severity", "=", "warning"]], "repeat_interval": "12h"},
        ],
    }


def notifications_file() -> Json:
    return {"apiVersion": 1, "contactPoints": contact_points(), "policies": [notification_policy()]}
