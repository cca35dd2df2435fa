"""The generated dashboards and alert rules are well formed, and a golden copy pins them.

Regenerate the golden files after an intended change with
`GPUFLEET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_dashboards_structure.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.alerts import RULES, groups, rule_model
from dashboards.boards import all_dashboards
from dashboards.config import DATASOURCE_UID, EXPR_UID, AlertThresholds
from dashboards.export import provisioning_tree
from dashboards.panels import GRID_COLUMNS
from gpufleet.contract.xids import fatal_xids
from tests.support.cli import REPO, run_cli

GOLDEN = REPO / "tests" / "golden" / "grafana"
BOARDS = all_dashboards()
RULE_MODELS = [rule_model(r, AlertThresholds()) for r in RULES]


def test_uids_unique_and_panel_ids_unique_per_dashboard() -> None:
    assert len({b["uid"] for b in BOARDS}) == len(BOARDS) == 10
    for board in BOARDS:
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
    assert len({r["uid"] for r in RULE_MODELS}) == len(RULE_MODELS)


def test_every_query_uses_the_fixed_datasource_sql_editor_and_numeric_format() -> None:
    for board in BOARDS:
        for variable in board["templating"]["list"]:
            assert variable["datasource"]["uid"] == DATASOURCE_UID
        for panel in board["panels"]:
            if panel["type"] in ("row", "alertlist"):
                continue
            assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
                assert target["editorType"] == "sql" and type(target["format"]) is int and target["format"] in (0, 1)
                if target["format"] == 0:
                    assert re.search(r"\bAS time\b", target["rawSql"]), panel["title"]


def test_grid_positions_fit_24_columns_and_do_not_overlap() -> None:
    for board in BOARDS:
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= GRID_COLUMNS, panel["title"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, f"{board['uid']}: {panel['title']} overlaps"
            cells |= mine


def test_every_data_panel_has_a_unit_and_thresholds() -> None:
    for board in BOARDS:
        for panel in board["panels"]:
            if "targets" in panel:
                defaults = panel["fieldConfig"]["defaults"]
                assert defaults["unit"], panel["title"]
                assert defaults["thresholds"]["steps"][0]["value"] is None, panel["title"]


def test_temperature_panels_carry_the_reference_thresholds() -> None:
    thermal = next(b for b in BOARDS if b["uid"] == "gpufleet-thermal")
    core = next(p for p in thermal["panels"] if p["title"] == "GPU core temperature")
    assert core["fieldConfig"]["defaults"]["unit"] == "celsius"
    assert [s["value"] for s in core["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 85, 89]
    hbm = next(p for p in thermal["panels"] if p["title"] == "HBM temperature")
    assert [s["value"] for s in hbm["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 85, 95]


@pytest.mark.parametrize("rule", RULE_MODELS, ids=[r["uid"] for r in RULE_MODELS])
def test_alert_rule_is_well_formed(rule: dict[str, Any]) -> None:
    refs = [d["refId"] for d in rule["data"]]
    assert rule["condition"] in refs and len(refs) == len(set(refs))
    query, condition = rule["data"]
    assert query["datasourceUid"] == DATASOURCE_UID and query["relativeTimeRange"]["from"] > 0
    assert query["model"]["format"] == 1 and query["model"]["editorType"] == "sql"
    sql = query["model"]["rawSql"]
    assert "$__timeFilter(" in sql, "explicit time window"
    assert "conditionalAll" not in sql and not re.search(r"\$(?!__)\w|\$\{", sql), "no dashboard variables in alert SQL"
    assert "{{" not in sql, "every placeholder filled"
    assert condition["datasourceUid"] == EXPR_UID and condition["model"]["expression"].startswith("$A ")
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]
    assert rule["noDataState"] == "OK" and rule["execErrState"] == "Error"


def test_fatal_xid_rule_pages_on_the_catalog_codes() -> None:
    assert fatal_xids() == (48, 64, 74, 79, 94, 95, 109, 119, 120, 140)
    fatal = next(r for r in RULE_MODELS if r["uid"] == "gpufleet-fatal-xid")
    # per burst: the bursts view marks a burst fatal from the catalog table, loaded from the same CSV
    sql = fatal["data"][0]["model"]["rawSql"]
    assert "FROM gpu_xid_bursts" in sql and "WHERE fatal AND" in sql


def test_thresholds_reach_sql_and_condition_together() -> None:
    swing = next(r for r in RULES if r.uid == "gpufleet-power-swing")
    model = rule_model(swing, AlertThresholds(power_ramp_megawatts_per_s=2.5))
    assert "HAVING value > 2.5" in model["data"][0]["model"]["rawSql"]
    assert model["data"][1]["model"]["expression"] == "$A > 2.5"
    assert sum(len(rules) for rules in groups(AlertThresholds()).values()) == len(RULES)


def test_provisioning_files_escape_template_dollars_but_not_queries() -> None:
    rules_file = yaml.safe_load(provisioning_tree()["provisioning/alerting/gpufleet-rules.yaml"])
    rule = rules_file["groups"][0]["rules"][0]
    assert "{{ $$labels.node }}" in rule["annotations"]["summary"]  # Grafana would expand $labels as an env var
    assert "$__timeFilter(" in rule["data"][0]["model"]["rawSql"]  # query models are stored raw
    datasources = yaml.safe_load(provisioning_tree()["provisioning/datasources/gpufleet.yaml"])
    assert datasources["datasources"][0]["secureJsonData"]["password"] == "$GPUFLEET_GRAFANA_PASSWORD"


def test_export_matches_the_golden_files(tmp_path: Path) -> None:
    proc = run_cli("grafana", "export", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    produced = {str(p.relative_to(tmp_path)): p.read_text("utf-8") for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    if os.environ.get("GPUFLEET_UPDATE_GOLDEN") == "1":
        for relative, text in produced.items():
            (GOLDEN / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relative).write_text(text, "utf-8")
    golden = {str(p.relative_to(GOLDEN)): p.read_text("utf-8") for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(produced) == sorted(golden)
    for relative, text in produced.items():
        assert text == golden[relative], f"{relative} differs from tests/golden/grafana/{relative}"


def test_export_leaves_the_sites_datasource_and_policies_alone_unless_asked() -> None:
    tree = provisioning_tree()
    datasources = yaml.safe_load(tree["provisioning/datasources/gpufleet.yaml"])["datasources"]
    assert [d["isDefault"] for d in datasources] == [False]
    assert not any("notifications" in path for path in tree), "a policy tree would replace the org's"
    opted_in = provisioning_tree(notifications=True)
    notifications = yaml.safe_load(opted_in["provisioning/alerting/gpufleet-notifications.yaml"])
    assert notifications["policies"] and notifications["contactPoints"]
