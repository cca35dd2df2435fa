"""Load the SQL files in `dashboards/queries/` and fill their `{{placeholders}}`.

Placeholders carry what Grafana cannot bind at query time: alert thresholds, the fatal XID
list from the catalog, the metric expression of a drill-down panel. They are code-made
constants, never user input; a placeholder left unfilled is an error, not a silent gap.
Each file starts with `--` comment lines: what the query answers, which the generated
panel or rule takes as its description.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True, slots=True)
class SqlFile:
    name: str
    text: str
    description: str

    def render(self, values: Mapping[str, object] | None = None) -> str:
        """The SQL without its comment header, placeholders filled from `values`."""
        values = values or {}
        missing = sorted({m for m in _PLACEHOLDER.findall(self.text) if m not in values})
        if missing:
            raise KeyError(f"{self.name}.sql needs values for {missing!r}")
        body = "\n".join(line for line in self.text.splitlines() if not line.startswith("--")).strip()
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]), body)


@functools.cache
def _folder(package: str) -> dict[str, SqlFile]:
    out = {}
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            text = entry.read_text("utf-8")
            doc = " ".join(line[2:].strip() for line in text.splitlines() if line.startswith("--"))
            name = entry.name.removesuffix(".sql")
            out[name] = SqlFile(name, text, doc)
    return out


def panel_sql(name: str) -> SqlFile:
    return _lookup("dashboards.queries", name)


def alert_sql(name: str) -> SqlFile:
    return _lookup("dashboards.queries.alerts", name)


def _lookup(package: str, name: str) -> SqlFile:
    files = _folder(package)
    if name not in files:
        raise KeyError(f"no SQL file {name!r} in {package} (have: {', '.join(sorted(files))})")
    return files[name]
