"""Named queries: parameterized SQL files in `storage/sql/queries/`, shared by the CLI,
the demo summary, the dashboards and the alert rules.

Each file starts with a comment block: the description (its docstring), then
`-- Params: ...` (what each parameter means) and optionally `-- Defaults: k=v, ...`.
Parameters are bound by ClickHouse (`{name:Type}`), never pasted into the text. A time
parameter (`*_ms`) also accepts `now`, `now-90s`, `now-15m`, `now-24h` or `now-7d`, resolved
here to epoch milliseconds before binding, so people need not type epoch numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.times import relative_ms
from storage.base import QueryResult, Store
from storage.sqlfiles import comments, read_folder

_PARAM = re.compile(r"\{(\w+):([^}]+)\}")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    text: str
    description: str
    params: tuple[tuple[str, str], ...] = ()  # (name, ClickHouse type) in order of first use
    defaults: tuple[tuple[str, str], ...] = ()

    def bind(self, given: Mapping[str, Any], now_ms: int | None = None) -> dict[str, Any]:
        """`given` completed with the defaults, relative times resolved; `ConfigError` if one is missing."""
        values: dict[str, Any] = {**dict(self.defaults), **given}
        unknown = set(given) - {p for p, _ in self.params}
        if unknown:
            raise ConfigError(f"query {self.name!r} has no parameter(s) {sorted(unknown)!r}: it takes {self.signature()}")
        missing = [p for p, _ in self.params if p not in values]
        if missing:
            raise ConfigError(f"query {self.name!r} needs --param for {missing!r}: it takes {self.signature()}")
        return {k: resolve_time(k, v, now_ms) for k, v in values.items()}

    def signature(self) -> str:
        defaults = dict(self.defaults)
        parts = [f"{p}:{t}" + (f"={defaults[p]}" if p in defaults else "") for p, t in self.params]
        return ", ".join(parts) or "no parameters"


def resolve_time(name: str, value: Any, now_ms: int | None = None) -> Any:
    """`now` / `now-24h` for a `*_ms` parameter as epoch ms; anything else unchanged."""
    if not (name.endswith("_ms") and isinstance(value, str)):
        return value
    resolved = relative_ms(value, now_ms)
    return value if resolved is None else resolved


def _parse(name: str, text: str) -> NamedQuery:
    header = comments(text)
    description = " ".join(c for c in header if not c.startswith("Defaults:"))
    defaults: list[tuple[str, str]] = []
    for line in header:
        if line.startswith("Defaults:"):
            for pair in line.removeprefix("Defaults:").split(","):
                key, _, value = pair.strip().partition("=")
                defaults.append((key.strip(), value.strip()))
    params: dict[str, str] = {}
    for pname, ptype in _PARAM.findall(text):
        params.setdefault(pname, ptype)
    return NamedQuery(name, text, description, tuple(params.items()), tuple(defaults))


@functools.cache
def catalog() -> dict[str, NamedQuery]:
    return {name: _parse(name, file.text) for name, file in read_folder("storage.sql.queries").items()}


def get(name: str) -> NamedQuery:
    query = catalog().get(name)
    if query is None:
        raise ConfigError(f"unknown query {name!r}: `gpufleet sql --list` shows the named queries")
    return query


def run(store: Store, name: str, parameters: Mapping[str, Any]) -> QueryResult:
    """Run a named query with `parameters` (defaults fill the rest)."""
    query = get(name)
    return store.query(query.text, query.bind(parameters))
