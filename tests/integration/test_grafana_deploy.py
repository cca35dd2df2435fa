"""`gpufleet grafana deploy` against an HTTP double of Grafana's documented API: the payloads
pass Grafana's checks, and a second deploy updates everything and creates nothing."""

from __future__ import annotations

import pytest

from dashboards.alerts import RULES
from dashboards.boards import all_dashboards
from dashboards.config import DATASOURCE_UID, EVALUATION_INTERVAL_S, FOLDER_UID, DatasourceConfig
from dashboards.deploy import DeployError, connect, deploy
from dashboards.provisioning import Secrets
from tests.support.cli import run_cli
from tests.support.grafana_double import grafana_double

TOKEN = "glsa_test"
OBJECTS = 1 + 1 + len(all_dashboards()) + len(RULES)  # datasource, folder, dashboards, rules


def test_first_deploy_creates_everything_and_second_only_updates() -> None:
    with grafana_double(TOKEN) as (url, grafana):
        first = deploy(connect(url, token=TOKEN), DatasourceConfig(host="ch.internal"), secrets=Secrets("s3cret"))
        assert len(first.created) == OBJECTS and first.updated == []
        posts_before = sum(1 for method, _ in grafana.requests if method == "POST")
        first_requests = len(grafana.requests)
        second = deploy(connect(url, token=TOKEN), DatasourceConfig(host="ch.internal"), secrets=Secrets("s3cret"))
        assert second.created == [] and sorted(second.updated) == sorted(first.created)
        new_posts = [p for m, p in grafana.requests[first_requests:] if m == "POST" and p != "/api/dashboards/db"]
        assert new_posts == []  # dashboards upsert through POST /api/dashboards/db by uid; nothing else is created again
        assert posts_before == OBJECTS

        assert list(grafana.datasources) == [DATASOURCE_UID]
        ds = grafana.datasources[DATASOURCE_UID]
        assert ds["jsonData"]["host"] == "ch.internal" and ds["secureJsonData"] == {"password": "s3cret"}
        assert list(grafana.folders) == [FOLDER_UID]
        assert {uid: d["version"] for uid, d in grafana.dashboards.items()} == {b["uid"]: 2 for b in all_dashboards()}
        assert sorted(grafana.rules) == sorted(r.uid for r in RULES)
        assert {g for _, g in grafana.groups} == {r.group for r in RULES}
        assert all(g["interval"] == EVALUATION_INTERVAL_S for g in grafana.groups.values())
        assert grafana.policy is None and grafana.contact_points == {}  # only on request


def test_notifications_route_by_severity() -> None:
    with grafana_double(TOKEN) as (url, grafana):
        for _ in range(2):
            report = deploy(connect(url, token=TOKEN), notifications=True, secrets=Secrets(webhook_url="https://hooks.example/x"))
        assert not [w for w in report.created if w.startswith("contact point")]
        assert {cp["settings"]["url"] for cp in grafana.contact_points.values()} == {"https://hooks.example/x"}
        assert grafana.policy is not None
        routes = {tuple(r["object_matchers"][0]): r["receiver"] for r in grafana.policy["routes"]}
        assert routes == {("severity", "=", "critical"): "gpufleet-oncall", ("severity", "=", "warning"): "gpufleet-tickets"}


def test_wrong_token_is_a_one_line_error() -> None:
    with grafana_double(TOKEN) as (url, grafana):
        with pytest.raises(DeployError, match=r"401.*--token"):
            deploy(connect(url, token="wrong"))
        assert grafana.datasources == {}


def test_conflicting_credentials_are_rejected() -> None:
    with pytest.raises(Exception, match="either --token or --user"):
        connect("http://127.0.0.1:1", token="t", user="u", password="p")


def test_cli_deploy_and_its_errors() -> None:
    with grafana_double(TOKEN) as (url, _):
        ok = run_cli("grafana", "deploy", "--url", url, env={"GPUFLEET_GRAFANA_TOKEN": TOKEN})
        assert ok.returncode == 0, ok.stderr
        assert f"created {OBJECTS}, updated 0" in ok.stdout
        again = run_cli("grafana", "deploy", "--url", url, "--token", TOKEN)
        assert again.returncode == 0 and f"created 0, updated {OBJECTS}" in again.stdout
        bad = run_cli("grafana", "deploy", "--url", url, "--token", "nope")
        assert bad.returncode == 1 and "Traceback" not in bad.stderr and "401" in bad.stderr
    down = run_cli("grafana", "deploy", "--url", "http://127.0.0.1:9", "--token", TOKEN)
    assert down.returncode != 0 and "cannot reach Grafana" in down.stderr and "Traceback" not in down.stderr
