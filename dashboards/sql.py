"""Load the SQL files in `dashboards/queries/` and fill their `{{placeholders}}`.

Placeholders carry what Grafana cannot bind at query time: alert thresholds, the fatal XID
list from the catalog, the metric expression of a drill-down panel. They are code-made
constants, never user input; a placeholder left unfilled is an error, not a silent gap.
Each file starts with `--` comment lines: what the query answers, which the generated
panel or rule takes as its description.
"""

from __future__ import annotations

from storage.sqlfiles import SqlFile, read_folder

__all__ = ["SqlFile", "alert_sql", "panel_sql"]

PARTS = "dashboards.queries.parts"  # what `-- @include NAME` lines in panel and alert SQL refer to


def panel_sql(name: str) -> SqlFile:
    return _lookup("dashboards.queries", name)


def alert_sql(name: str) -> SqlFile:
    return _lookup("dashboards.queries.alerts", name)


def _lookup(package: str, name: str) -> SqlFile:
    files = read_folder(package, PARTS)
    if name not in files:
        raise KeyError(f"no SQL file {name!r} in {package} (have: {', '.join(files)})")
    return files[name]
