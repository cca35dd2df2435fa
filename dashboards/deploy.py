"""Push the datasource, folder, dashboards and alert rules to a running Grafana.

Idempotent: every object has a fixed uid, so each step looks it up and updates it when it
exists, creates it otherwise; a second deploy updates everything and creates nothing.
Contact points and the notification policy are only pushed on request (`notifications`),
because Grafana has one policy tree per organization and setting it replaces the site's.
Uses grafana-client (Grafana's HTTP API: /api/datasources, /api/folders,
/api/dashboards/db, /api/v1/provisioning/...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dashboards.alerts import groups
from dashboards.boards import all_dashboards
from dashboards.config import DATASOURCE_UID, EVALUATION_INTERVAL_S, FOLDER_TITLE, FOLDER_UID, AlertThresholds, DatasourceConfig
from dashboards.provisioning import Secrets, contact_points, datasource, notification_policy
from gpufleet.contract.errors import ConfigError, GpufleetError, TransientError

NOT_FOUND = 404
UNAUTHORIZED = 401


class DeployError(GpufleetError):
    """Grafana refused a request: bad credentials, missing permission, invalid payload."""


@dataclass(slots=True)
class DeployReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def connect(url: str, token: str | None = None, user: str | None = None, password: str | None = None) -> Any:
    """A `GrafanaApi` for `url`, authenticated by token or by user and password."""
    from grafana_client.api import GrafanaApi

    if token and user:
        raise ConfigError("give either --token or --user/--password, not both")
    if bool(user) != bool(password):
        raise ConfigError("--user and --password go together")
    credential: str | tuple[str, str] | None = token or ((user, password) if user and password else None)
    return GrafanaApi.from_url(url, credential=credential, timeout=10.0)


def _exists(get: Callable[[], Any]) -> bool:
    from grafana_client.client import GrafanaClientError

    try:
        get()
    except GrafanaClientError as exc:
        if exc.status_code == NOT_FOUND:
            return False
        raise
    return True


def _upsert(report: DeployReport, what: str, exists: bool, create: Callable[[], Any], update: Callable[[], Any]) -> None:
    if exists:
        update()
        report.updated.append(what)
    else:
        create()
        report.created.append(what)


def deploy(
    api: Any,
    datasource_config: DatasourceConfig | None = None,
    thresholds: AlertThresholds | None = None,
    secrets: Secrets | None = None,
    notifications: bool = False,
) -> DeployReport:
    """Everything, in dependency order: datasource, folder, dashboards, rules (, notifications)."""
    from grafana_client.client import GrafanaException

    config, limits = datasource_config or DatasourceConfig(), thresholds or AlertThresholds()
    try:
        return _deploy(api, config, limits, secrets or Secrets(), notifications)
    except OSError as exc:  # niquests' connection errors derive from OSError
        raise TransientError(f"cannot reach Grafana: {exc}") from exc
    except GrafanaException as exc:
        hint = " (check --token, or --user/--password)" if exc.status_code == UNAUTHORIZED else ""
        raise DeployError(f"Grafana refused the deploy with HTTP {exc.status_code}: {exc.message}{hint}") from exc


def _deploy(
    api: Any, config: DatasourceConfig, thresholds: AlertThresholds, secrets: Secrets, notifications: bool
) -> DeployReport:
    report = DeployReport()
    ds = datasource(config, secrets.clickhouse_password)
    _upsert(
        report,
        f"datasource {DATASOURCE_UID}",
        _exists(lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID)),
        lambda: api.datasource.create_datasource(ds),
        lambda: api.datasource.update_datasource_by_uid(DATASOURCE_UID, ds),
    )
    _upsert(
        report,
        f"folder {FOLDER_UID}",
        _exists(lambda: api.folder.get_folder(FOLDER_UID)),
        lambda: api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID),
        lambda: api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True),
    )
    for board in all_dashboards():
        uid = board["uid"]
        payload = {"dashboard": board, "folderUid": FOLDER_UID, "overwrite": True, "message": "gpufleet grafana deploy"}
        # /api/dashboards/db inserts or updates by uid; the lookup only tells which it was
        existed = _exists(partial(api.dashboard.get_dashboard, uid))
        api.dashboard.update_dashboard(payload)
        (report.updated if existed else report.created).append(f"dashboard {uid}")
    _deploy_rules(api, thresholds, report)
    if notifications:
        _deploy_notifications(api, secrets, report)
    return report


def _deploy_rules(api: Any, thresholds: AlertThresholds, report: DeployReport) -> None:
    prov = api.alertingprovisioning
    for name, rules in groups(thresholds).items():
        for rule in rules:
            uid = rule["uid"]
            _upsert(
                report,
                f"alert rule {uid}",
                _exists(partial(prov.get_alertrule, uid)),
                partial(prov.create_alertrule, rule),
                partial(prov.update_alertrule, uid, rule),
            )
        # the group carries the evaluation interval; its rules are the ones just written
        prov.update_rule_group(
            FOLDER_UID, name, {"title": name, "folderUid": FOLDER_UID, "interval": EVALUATION_INTERVAL_S, "rules": rules}
        )


def _deploy_notifications(api: Any, secrets: Secrets, report: DeployReport) -> None:
    prov = api.alertingprovisioning
    existing = {cp.get("uid") for cp in prov.get_contactpoints() or []}
    for group in contact_points(secrets.webhook_url):
        for receiver in group["receivers"]:
            body = {"uid": receiver["uid"], "name": group["name"], "type": receiver["type"], "settings": receiver["settings"],
                    "disableResolveMessage": receiver["disableResolveMessage"]}  # fmt: skip
            _upsert(
                report,
                f"contact point {receiver['uid']}",
                receiver["uid"] in existing,
                partial(prov.create_contactpoint, body),
                partial(prov.update_contactpoint, body["uid"], body),
            )
    policy = {k: v for k, v in notification_policy().items() if k != "orgId"}
    prov.set_notification_policy_tree(policy)
    report.updated.append("notification policy")
