"""An HTTP double of the parts of Grafana's HTTP API that `gpufleet grafana deploy` uses.

Grafana cannot run here, so this serves its documented endpoints on a loopback port
(real HTTP, so grafana-client's own transport runs) with Grafana's semantics: fixed uids,
404 for unknown objects, 409 for duplicates, 401 without the right credentials, and the
payload checks Grafana makes (a dashboard needs an existing folder, a rule needs its
folder, a condition naming one of its queries, known datasource uids, a valid time range).
Endpoints: /api/datasources, /api/folders, /api/dashboards, /api/v1/provisioning/...
(docs: http_api/data_source, folder, dashboard, alerting_provisioning).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]
EXPR = "__expr__"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class GrafanaState:
    token: str
    datasources: dict[str, Json] = field(default_factory=dict)
    folders: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)
    rules: dict[str, Json] = field(default_factory=dict)
    groups: dict[tuple[str, str], Json] = field(default_factory=dict)
    contact_points: dict[str, Json] = field(default_factory=dict)
    policy: Json | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)

    # ---- handlers: (method, path regex) -> function(match, body) -> (status, json)
    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        for verb, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                args = (*match.groups(), body) if body is not None else match.groups()
                status, payload = handler(self, *args)
                return int(status), payload
        raise ApiError(404, f"no route {method} {path}")


def _need(condition: bool, message: str, status: int = 400) -> None:
    if not condition:
        raise ApiError(status, message)


def _get(table: dict[str, Json], uid: str, what: str) -> Json:
    _need(uid in table, f"{what} not found", 404)
    return table[uid]


def _check_datasource(body: Json) -> None:
    _need(body.get("type") == "grafana-clickhouse-datasource", f"unexpected datasource type {body.get('type')!r}")
    _need(
        bool(body.get("jsonData", {}).get("host")) and "defaultDatabase" in body.get("jsonData", {}),
        "jsonData needs host and defaultDatabase",
    )
    _need(body.get("access") in ("proxy", "direct"), "access must be proxy")


def create_datasource(s: GrafanaState, body: Json) -> tuple[int, Any]:
    _check_datasource(body)
    _need(body["uid"] not in s.datasources, "data source with the same uid already exists", 409)
    s.datasources[body["uid"]] = body
    return 200, {"message": "Datasource added", "id": len(s.datasources), "datasource": body}


def update_datasource(s: GrafanaState, uid: str, body: Json) -> tuple[int, Any]:
    _get(s.datasources, uid, "Data source")
    _check_datasource(body)
    s.datasources[uid] = body
    return 200, {"message": "Datasource updated", "datasource": body}


def create_folder(s: GrafanaState, body: Json) -> tuple[int, Any]:
    _need(bool(body.get("title")), "folder title missing")
    _need(body.get("uid") not in s.folders, "a folder with the same uid already exists", 409)
    s.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
    return 200, s.folders[body["uid"]]


def update_folder(s: GrafanaState, uid: str, body: Json) -> tuple[int, Any]:
    folder = _get(s.folders, uid, "folder")
    _need(body.get("overwrite") is True or body.get("version") == folder["version"], "folder version mismatch", 412)
    folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
    return 200, folder


def post_dashboard(s: GrafanaState, body: Json) -> tuple[int, Any]:
    board = body.get("dashboard", {})
    _need(bool(board.get("uid")) and bool(board.get("title")), "dashboard needs uid and title")
    _need(body.get("folderUid") in s.folders, "folder not found")
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            _need(target["datasource"]["uid"] in s.datasources, f"panel {panel['title']!r}: unknown datasource")
    old = s.dashboards.get(board["uid"])
    _need(old is None or body.get("overwrite") is True, "dashboard with the same uid exists", 412)
    version = (old["version"] + 1) if old else 1
    s.dashboards[board["uid"]] = {"dashboard": board, "folderUid": body["folderUid"], "version": version}
    return 200, {"status": "success", "uid": board["uid"], "version": version}


def _check_rule(s: GrafanaState, rule: Json) -> None:
    _need(rule.get("folderUID") in s.folders, "folder does not exist")
    _need(bool(rule.get("ruleGroup")) and bool(rule.get("title")), "rule needs ruleGroup and title")
    refs = {d["refId"] for d in rule["data"]}
    _need(rule.get("condition") in refs, f"condition {rule.get('condition')!r} is not one of the queries {sorted(refs)}")
    for query in rule["data"]:
        uid = query["datasourceUid"]
        _need(uid == EXPR or uid in s.datasources, f"datasource {uid!r} not found")
        if uid != EXPR:
            _need(query["relativeTimeRange"]["from"] > query["relativeTimeRange"]["to"], "invalid relative time range")
    _need(rule.get("noDataState") in ("NoData", "Alerting", "OK", "KeepLast"), "bad noDataState")
    _need(rule.get("execErrState") in ("Alerting", "Error", "OK", "KeepLast"), "bad execErrState")


def create_rule(s: GrafanaState, body: Json) -> tuple[int, Any]:
    _check_rule(s, body)
    _need(body["uid"] not in s.rules, "a rule with this uid already exists", 409)
    s.rules[body["uid"]] = body
    s.groups.setdefault((body["folderUID"], body["ruleGroup"]), {"interval": 60})
    return 201, body


def update_rule(s: GrafanaState, uid: str, body: Json) -> tuple[int, Any]:
    _get(s.rules, uid, "rule")
    _check_rule(s, body)
    s.rules[uid] = body
    return 200, body


def put_group(s: GrafanaState, folder: str, group: str, body: Json) -> tuple[int, Any]:
    _need(folder in s.folders, "folder not found", 404)
    _need(isinstance(body.get("interval"), int) and body["interval"] % 10 == 0, "interval must be a multiple of 10 s")
    for rule in body.get("rules", []):
        _need(rule.get("ruleGroup") == group and rule.get("folderUID") == folder, "rule belongs to another group")
        _check_rule(s, rule)
        s.rules[rule["uid"]] = rule
    s.groups[(folder, group)] = {"interval": body["interval"]}
    return 200, body


def create_contact_point(s: GrafanaState, body: Json) -> tuple[int, Any]:
    _need(body.get("type") == "webhook" and bool(body.get("settings", {}).get("url")), "webhook needs a url")
    _need(body["uid"] not in s.contact_points, "contact point exists", 409)
    s.contact_points[body["uid"]] = body
    return 202, body


def update_contact_point(s: GrafanaState, uid: str, body: Json) -> tuple[int, Any]:
    _get(s.contact_points, uid, "contact point")
    s.contact_points[uid] = body
    return 202, {"message": "contactpoint updated"}


def put_policy(s: GrafanaState, body: Json) -> tuple[int, Any]:
    names = {cp["name"] for cp in s.contact_points.values()}
    receivers = [body["receiver"], *(r["receiver"] for r in body.get("routes", []))]
    _need(all(r in names for r in receivers), f"policy names unknown receivers {sorted(set(receivers) - names)}")
    s.policy = body
    return 202, {"message": "policies updated"}


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", r"/api/datasources/uid/([^/]+)", lambda s, uid: (200, _get(s.datasources, uid, "Data source"))),
    ("POST", r"/api/datasources", create_datasource),
    ("PUT", r"/api/datasources/uid/([^/]+)", update_datasource),
    ("GET", r"/api/folders/([^/]+)", lambda s, uid: (200, _get(s.folders, uid, "folder"))),
    ("POST", r"/api/folders", create_folder),
    ("PUT", r"/api/folders/([^/]+)", update_folder),
    ("GET", r"/api/dashboards/uid/([^/]+)", lambda s, uid: (200, _get(s.dashboards, uid, "Dashboard"))),
    ("POST", r"/api/dashboards/db", post_dashboard),
    ("GET", r"/api/v1/provisioning/alert-rules/([^/]+)", lambda s, uid: (200, _get(s.rules, uid, "rule"))),
    ("POST", r"/api/v1/provisioning/alert-rules", create_rule),
    ("PUT", r"/api/v1/provisioning/alert-rules/([^/]+)", update_rule),
    ("PUT", r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", put_group),
    ("GET", r"/api/v1/provisioning/contact-points", lambda s: (200, list(s.contact_points.values()))),
    ("POST", r"/api/v1/provisioning/contact-points", create_contact_point),
    ("PUT", r"/api/v1/provisioning/contact-points/([^/]+)", update_contact_point),
    ("PUT", r"/api/v1/provisioning/policies", put_policy),
]


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            state.requests.append((method, path))
            try:
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    raise ApiError(401, "Unauthorized")
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, payload = state.route(method, path, body)
            except ApiError as exc:
                status, payload = exc.status, {"message": str(exc)}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean; `state.requests` records every call

    return Handler


@contextmanager
def grafana_double(token: str = "glsa_test") -> Iterator[tuple[str, GrafanaState]]:
    """A running double on 127.0.0.1 (free port): yields its base URL and its state."""
    state = GrafanaState(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, name="grafana-double", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
