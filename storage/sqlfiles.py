"""Read a package's SQL files: the comment header, the body, and the shared parts they include.

Both kinds of query file go through here: the named queries (`storage/sql/queries/`, read
by `storage.queries`) and the Grafana panel and alert SQL (`dashboards/queries/`, read by
`dashboards.sql`). Each file starts with `--` comment lines saying what it answers; that
text is its description.

A line `-- @include NAME` (or `-- @include NAME(a, b, c)`) is replaced by the body of
`NAME.sql` in the folder's parts package (`storage/sql/parts/`, `dashboards/queries/parts/`),
its `{{args}}` filled with `a, b, c` (columns, or the metric a panel shows), indented like the
line. The part's own comment lines explain it and are not copied, so a query's description
stays its own. A part is SQL the queries share word for word (the hour+minute window of the
report queries, the per-second fleet power steps), kept in one place so the copies cannot
drift; the resolved text is what runs and what `gpufleet sql --list` shows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

PARTS = "storage.sql.parts"
_MAX_DEPTH = 4
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_INCLUDE = re.compile(r"^(?P<indent>\s*)-- @include (?P<name>\w+)(?:\((?P<args>[^)]*)\))?\s*$")


@dataclass(frozen=True, slots=True)
class SqlFile:
    name: str
    text: str  # includes resolved; the header comment kept
    description: str  # the header comment lines, joined

    @property
    def body(self) -> str:
        """The SQL without its comment lines."""
        return "\n".join(line for line in self.text.splitlines() if not line.startswith("--")).strip()

    def render(self, values: Mapping[str, object] | None = None) -> str:
        """The body with its `{{placeholders}}` filled from `values`; `KeyError` if one is left.

        Placeholders carry what Grafana cannot bind at query time (`dashboards.sql`); named
        queries have none and bind `{name:Type}` parameters server-side instead.
        """
        values = values or {}
        missing = sorted({m for m in _PLACEHOLDER.findall(self.text) if m not in values})
        if missing:
            raise KeyError(f"{self.name}.sql needs values for {missing!r}")
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]), self.body)


def comments(text: str) -> list[str]:
    """The text of the `--` lines that start at the first column, in order."""
    return [line[2:].strip() for line in text.splitlines() if line.startswith("--")]


@functools.cache
def read_folder(package: str, parts: str = PARTS) -> dict[str, SqlFile]:
    """Every `*.sql` file of `package` by name (without `.sql`), sorted, includes resolved from `parts`."""
    out = {}
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            name = entry.name.removesuffix(".sql")
            text = resolve(entry.read_text("utf-8"), f"{package}/{entry.name}", parts)
            out[name] = SqlFile(name, text, " ".join(comments(text)))
    return dict(sorted(out.items()))


def resolve(text: str, where: str, parts: str = PARTS, depth: int = 0) -> str:
    """`text` with each `-- @include` line replaced by its part (parts may include parts);
    `KeyError` for an unknown part or wrong `(arguments)`."""
    lines = []
    for line in text.splitlines():
        include = _INCLUDE.match(line)
        if include is None:
            lines.append(line)
            continue
        part = _part(parts, include["name"], where, depth)
        args = include["args"]
        if ("{{args}}" in part) != (args is not None):
            raise KeyError(f"{where}: part {include['name']!r} {'needs' if args is None else 'takes no'} (arguments)")
        if args is not None:
            part = part.replace("{{args}}", ", ".join(a.strip() for a in args.split(",")))
        lines.extend(include["indent"] + p if p else p for p in part.splitlines())
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _part(parts: str, name: str, where: str, depth: int) -> str:
    entry = resources.files(parts).joinpath(f"{name}.sql")
    if not entry.is_file():
        raise KeyError(f"{where} includes {name!r}, which is not in {parts}")
    if depth >= _MAX_DEPTH:
        raise KeyError(f"{where}: parts nested deeper than {_MAX_DEPTH} at {name!r} (does one include itself?)")
    text = resolve(entry.read_text("utf-8"), f"{parts}/{name}.sql", parts, depth + 1)
    return "\n".join(line for line in text.splitlines() if not line.startswith("--")).strip()
