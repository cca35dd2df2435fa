"""Alert rules as code: what each rule measures, when it fires, who it wakes.

Every rule is one table-format SQL query (`dashboards/queries/alerts/<name>.sql`) that
returns string label columns and exactly one numeric column, `value`, already filtered to
the breaching rows (so Grafana handles a few instances, not 200,000), plus a math condition
on that value with the same threshold. The SQL buckets time explicitly (minute rollups,
per-second power) and uses no dashboard variables: Grafana evaluates alert queries on the
server, where there are none. `gpufleet alerts check` runs the same SQL and condition.
"""

from __future__ import annotations

from typing import Any

from dashboards.config import DATASOURCE_REF, DATASOURCE_UID, EXPR_UID, FOLDER_UID, ORG_ID, PLUGIN_VERSION, AlertThresholds
from dashboards.facility_alerts import FACILITY_RULES
from dashboards.rule import AlertRule, load_rules
from dashboards.sql import alert_sql

__all__ = ["RULES", "AlertRule", "Json", "groups", "rule_model"]  # AlertRule lives in dashboards/rule.py

Json = dict[str, Any]

# The GPU, node and pipeline rules are data: dashboards/queries/alerts/rules.toml.
RULES: tuple[AlertRule, ...] = (
    *load_rules("rules.toml"),
    *FACILITY_RULES,  # coolant, flow and rack power (dashboards/facility_alerts.py)
)


def rule_model(rule: AlertRule, thresholds: AlertThresholds, folder_uid: str = FOLDER_UID) -> Json:
    """The rule in Grafana's alerting provisioning format (file and HTTP API share it)."""
    query = {
        "refId": "A",
        "datasource": dict(DATASOURCE_REF),
        "editorType": "sql",
        "queryType": "table",
        "format": 1,
        "pluginVersion": PLUGIN_VERSION,
        "rawSql": rule.sql(thresholds),
        "intervalMs": 1000,
        "maxDataPoints": 43200,
    }
    condition = {
        "refId": "C",
        "datasource": {"type": EXPR_UID, "uid": EXPR_UID},
        "type": "math",
        "expression": rule.condition(thresholds),
    }
    return {
        "uid": rule.uid,
        "title": rule.title,
        "orgID": ORG_ID,
        "folderUID": folder_uid,
        "ruleGroup": rule.group,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.window_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": query,
            },
            {"refId": "C", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": EXPR_UID, "model": condition},
        ],
        "noDataState": "OK",  # the query returns only breaching rows: nothing back means healthy
        "execErrState": "Error",
        "for": rule.pending,
        "labels": {"severity": rule.severity, "team": "gpu-ops", "scope": rule.scope},
        "annotations": {
            "summary": rule.summary,
            "runbook": rule.runbook,
            "description": alert_sql(rule.sql_name).description,
        },
        "isPaused": False,
    }


def groups(thresholds: AlertThresholds, folder_uid: str = FOLDER_UID) -> dict[str, list[Json]]:
    """Rules by group name, in declaration order."""
    out: dict[str, list[Json]] = {}
    for rule in RULES:
        out.setdefault(rule.group, []).append(rule_model(rule, thresholds, folder_uid))
    return out
