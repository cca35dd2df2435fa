"""Every dashboard query, macro-expanded as Grafana would, runs in chDB against a stored
synthetic fleet with the default fault scenario, and returns rows of the shape its panel
type needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from dashboards.boards import all_dashboards
from dashboards.macros import ALL, TimeRange, expand
from storage.clickhouse import ClickHouseStore
from tests.support.dashboards_data import StoredFleet, default_fleet_fixture  # noqa: F401  (session fixture)

Fleet = tuple[ClickHouseStore, StoredFleet]
BOARDS = all_dashboards()
TARGETS = [(b["uid"], p, t) for b in BOARDS for p in b["panels"] for t in p.get("targets", [])]
ALL_VARS = {name: ALL for name in ("cluster", "hall", "rack", "node", "gpu", "job")}
# Panels that may legitimately be empty on this fleet (no dead letters are injected here).
MAY_BE_EMPTY = {"Dead letters", "Newest dead letters"}


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_shape(panel: dict[str, Any], target: dict[str, Any], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    title = panel["title"]
    if not rows:
        assert title in MAY_BE_EMPTY, f"{title}: no rows"
        return
    if target["format"] == 0:  # time series: `time` first, then labels (strings) and numbers
        assert columns[0] == "time", f"{title}: time column must be aliased `time`, got {columns}"
        assert all(isinstance(r[0], dt.datetime) for r in rows), title
        assert any(_numeric(v) for v in rows[0][1:]), f"{title}: no numeric value column"
        assert all(isinstance(v, str) or _numeric(v) or v is None for r in rows for v in r[1:]), title
    elif panel["type"] == "stat":
        assert len(rows) >= 1 and any(_numeric(v) for v in rows[0]), f"{title}: a stat needs a number"
    else:
        assert len(columns) >= 2, f"{title}: a table with one column"


@pytest.mark.parametrize(("uid", "panel", "target"), TARGETS, ids=[f"{u}:{p['id']}:{p['title']}" for u, p, _ in TARGETS])
def test_panel_query_runs_and_has_its_shape(
    default_fleet: Fleet, uid: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    store, fleet = default_fleet
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 10_000)
    result = store.query(expand(target["rawSql"], time_range, ALL_VARS))
    _check_shape(panel, target, result.columns, result.rows)


def test_variables_chain_and_a_concrete_selection_narrows_panels(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 10_000)
    gpu_board = next(b for b in BOARDS if b["uid"] == "gpufleet-gpu")
    chosen: dict[str, Any] = dict(ALL_VARS)
    for variable in gpu_board["templating"]["list"]:  # cluster → hall → rack → node → gpu, each from its parent
        values = [r[0] for r in store.query(expand(variable["query"]["rawSql"], time_range, chosen)).rows]
        assert values, variable["name"]
        chosen[variable["name"]] = [values[0]]
    assert chosen["gpu"] == ["0"] and len(chosen["node"]) == 1
    power = next(p for p in gpu_board["panels"] if p["title"] == "Power (1 s average)")
    rows = store.query(expand(power["targets"][0]["rawSql"], time_range, chosen)).rows
    assert {r[1] for r in rows} == {f"{chosen['node'][0]}/0"}  # one GPU's series only
    assert len(rows) == fleet.ticks // 10 + 1 or len(rows) == fleet.ticks // 10


def test_fleet_numbers_match_the_simulation(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    overview = next(b for b in BOARDS if b["uid"] == "gpufleet-overview")
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 1000)
    reporting = next(p for p in overview["panels"] if p["title"].startswith("GPUs reporting"))
    result = store.query(expand(reporting["targets"][0]["rawSql"], time_range, ALL_VARS))
    got = dict(zip(result.columns, result.rows[0], strict=True))
    silent = {g for f in fleet.truth("gpu_lost", "node_down") for g in f.gpus} | {
        g for f in fleet.truth("xid") if f.xid == 79 for g in f.gpus
    }
    assert got == {"reporting": 512 - len(silent), "inventory": 512, "missing": len(silent)}
    power_now = next(p for p in overview["panels"] if p["title"] == "Fleet power now")
    value = store.query(expand(power_now["targets"][0]["rawSql"], time_range, ALL_VARS)).rows[0][0]
    assert value == pytest.approx(fleet.fleet_power_mw()[fleet.end_ms // 1000 - 1], rel=1e-9)


def test_heatmaps_are_bucket_columns_that_count_every_gpu(default_fleet: Fleet) -> None:
    store, fleet = default_fleet
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 60_000)
    heatmaps = [(p, t) for _, p, t in TARGETS if p["type"] == "heatmap"]
    assert len(heatmaps) == 6  # utilization, temperatures, SM / tensor / DRAM activity
    for panel, target in heatmaps:
        result = store.query(expand(target["rawSql"], time_range, ALL_VARS))
        bands = [int(c) for c in result.columns[1:]]  # Grafana's "ge" layout: names are lower bounds
        assert bands == sorted(bands) and len(bands) >= 10, panel["title"]
        per_interval = [sum(r[1:]) for r in result.rows]
        # one-minute intervals: every GPU that reported in the minute lands in exactly one band
        assert max(per_interval) <= 512 and min(per_interval[1:-1]) >= 400, (panel["title"], per_interval)
