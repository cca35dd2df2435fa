"""Small helpers that build classic Grafana dashboard JSON as plain dicts.

No SDK: grafanalib emits a string `format` that this plugin cannot read, and the
foundation SDK has no ClickHouse query type (shared/reference/grafana.md §5). Every target
is the plugin's SQL model: `editorType: sql`, numeric `format` (0 time series, 1 table),
the fixed datasource uid. Panels are laid out left to right on the 24-column grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboards.config import DASHBOARD_SCHEMA_VERSION, DATASOURCE_REF, PLUGIN_VERSION
from dashboards.sql import panel_sql

Json = dict[str, Any]
TIME_SERIES, TABLE = 0, 1
GRID_COLUMNS = 24
_QUERY_TYPE = {TIME_SERIES: "timeseries", TABLE: "table"}
_DEFAULT_FORMAT = {"timeseries": TIME_SERIES, "heatmap": TIME_SERIES, "barchart": TABLE}


def steps(*pairs: tuple[float | None, str]) -> Json:
    """Absolute thresholds: (None, 'green') first, then (value, colour) ascending."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in pairs]}


TEMP_STEPS = steps((None, "green"), (85, "orange"), (89, "red"))  # warn 85, slowdown 89 (fleet-numbers §8)
HBM_STEPS = steps((None, "green"), (85, "orange"), (95, "red"))
OK_STEPS = steps((None, "green"))
COUNT_STEPS = steps((None, "green"), (1, "red"))


def target(sql_name: str, fmt: int, ref_id: str = "A", values: Mapping[str, object] | None = None) -> Json:
    return {
        "refId": ref_id,
        "datasource": dict(DATASOURCE_REF),
        "editorType": "sql",
        "queryType": _QUERY_TYPE[fmt],
        "format": fmt,
        "pluginVersion": PLUGIN_VERSION,
        "rawSql": panel_sql(sql_name).render(values),
    }


@dataclass(slots=True)
class Panel:
    """One panel before layout; `json()` gives Grafana's panel model."""

    kind: str
    title: str
    sql: str
    unit: str
    width: int = 12
    height: int = 8
    fmt: int | None = None
    thresholds: Json = field(default_factory=lambda: OK_STEPS)
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    values: Mapping[str, object] | None = None
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)

    def json(self, panel_id: int, x: int, y: int) -> Json:
        fmt = self.fmt if self.fmt is not None else _DEFAULT_FORMAT.get(self.kind, TABLE)
        defaults: Json = {"unit": self.unit, "thresholds": self.thresholds, "custom": self.custom}
        defaults.update({k: v for k, v in (("min", self.min), ("max", self.max), ("decimals", self.decimals)) if v is not None})
        if self.kind in ("stat", "gauge"):
            defaults["color"] = {"mode": "thresholds"}
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": panel_sql(self.sql).description,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "datasource": dict(DATASOURCE_REF),
            "targets": [target(self.sql, fmt, values=self.values)],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options,
        }


def stat(title: str, sql: str, unit: str, width: int = 6, field: str = "", **kw: Any) -> Panel:
    """A big number; `field` picks one column of the result (default: every numeric column)."""
    fields = f"/^{field}$/" if field else ""
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": False}, "colorMode": "value"}
    return Panel("stat", title, sql, unit, width=width, height=kw.pop("height", 5), options=options, **kw)


def timeseries(title: str, sql: str, unit: str, width: int = 12, **kw: Any) -> Panel:
    options = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["max", "lastNotNull"]},
        "tooltip": {"mode": "multi"},
    }
    return Panel("timeseries", title, sql, unit, width=width, options=options, custom={"lineWidth": 1, "fillOpacity": 10}, **kw)


def bars(title: str, sql: str, unit: str, width: int = 12, **kw: Any) -> Panel:
    """A time series drawn as stacked bars (event counts per interval)."""
    custom = {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal", "group": "A"}}
    return Panel("timeseries", title, sql, unit, width=width, options={"legend": {"displayMode": "list"}}, custom=custom, **kw)


def table(title: str, sql: str, unit: str, width: int = 24, **kw: Any) -> Panel:
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return Panel("table", title, sql, unit, width=width, height=kw.pop("height", 9), options=options, **kw)


def band_columns(low: int, high: int, step: int) -> dict[str, object]:
    """Placeholders of a heatmap query: one `countIf` column per band, named by its lower bound."""
    bands = ", ".join(f"countIf(band = {b}) AS `{b}`" for b in range(low, high + 1, step))
    return {"bands": bands, "low": low, "high": high}


def heatmap(title: str, sql: str, unit: str, bands: tuple[int, int, int], width: int = 12, **kw: Any) -> Panel:
    """Pre-bucketed heatmap: one column per band (named by its lower bound), GPU counts as values."""
    options = {
        "calculate": False,
        "yAxis": {"unit": unit, "axisPlacement": "left"},
        "rowsFrame": {"layout": "ge"},  # column names are the bands' lower bounds
        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
        "cellGap": 1,
        "tooltip": {"mode": "single", "yHistogram": True},
    }
    return Panel("heatmap", title, sql, unit, width=width, options=options, values=band_columns(*bands), **kw)


def alert_list(title: str, panel_id: int, x: int, y: int, width: int = 12, height: int = 8) -> Json:
    """Grafana's own list of firing alert instances (no query: it reads the alert state)."""
    return {
        "id": panel_id,
        "type": "alertlist",
        "title": title,
        "description": "Firing and pending gpufleet alert instances, from Grafana's alerting state.",
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "options": {
            "viewMode": "list",
            "groupMode": "default",
            "maxItems": 50,
            "sortOrder": 1,
            "dashboardAlerts": False,
            "alertInstanceLabelFilter": "",
            "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
        },
    }


def layout(panels: Sequence[Panel | str]) -> list[Json]:
    """Place panels left to right, wrapping at 24 columns; a string starts a collapsed-off row."""
    out: list[Json] = []
    x = y = row_h = 0
    for item in panels:
        panel_id = len(out) + 1
        if isinstance(item, str):
            y, x, row_h = y + row_h, 0, 0
            out.append(
                {
                    "id": panel_id,
                    "type": "row",
                    "title": item,
                    "collapsed": False,
                    "panels": [],
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                }
            )
            y += 1
            continue
        if x + item.width > GRID_COLUMNS:
            y, x, row_h = y + row_h, 0, 0
        out.append(item.json(panel_id, x, y))
        x, row_h = x + item.width, max(row_h, item.height)
    return out


def query_variable(name: str, label: str, sql: str, multi: bool = True) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(DATASOURCE_REF),
        "query": {
            "refId": f"var-{name}",
            "editorType": "sql",
            "format": TABLE,
            "queryType": "table",
            "rawSql": panel_sql(sql).render(),
        },
        "definition": panel_sql(sql).render(),
        "refresh": 2,  # on time range change: racks and nodes appear as the fleet grows
        "multi": multi,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, description: str, panels: list[Json], variables: Sequence[Json], time_from: str = "now-1h"
) -> Json:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["gpufleet"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": DASHBOARD_SCHEMA_VERSION,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["gpufleet"], "asDropdown": True, "title": "gpufleet"}],
        "panels": panels,
    }
