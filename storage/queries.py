"""Named queries: parameterized SQL files in `storage/sql/queries/`, shared by the CLI,
the demo summary, the dashboards and the alert rules.

Each file starts with a comment block: the description (its docstring), then
`-- Params: ...` (what each parameter means) and optionally `-- Defaults: k=v, ...`.
Parameters are bound by ClickHouse (`{name:Type}`), never pasted into the text. A time
parameter (`*_ms`) also accepts `now`, `now-90s`, `now-15m`, `now-24h` or `now-7d`, resolved
here to epoch milliseconds before binding, so people need not type epoch numbers.

What runs is the resolved text without its comment lines (clickhouse-connect scans every
query's text in Python before sending it: ~1 ms per 100 lines, measured). A query that reads
its window through part `gpu_rollup_window` (whole hours from gpu_hour, partial hours from
gpu_minute) runs with part `gpu_minute_window` instead when the window holds no whole clock
hour, and `stragglers` without its stored hours (`WITHIN_HOUR_PARTS`): the same rows, and
about half the engine's time for a 1 h window, most of which is analysing and planning the
text rather than reading rows (docs/benchmarks.md, "Queries that scale").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.times import relative_ms
from storage.base import QueryResult, Store
from storage.sqlfiles import comments, read_folder, resolve

_PARAM = re.compile(r"\{(\w+):([^}]+)\}")
_FOLDER = "storage.sql.queries"
HOUR_S = 3600
# Parts a query reads its window through, each with the part that gives the same rows when the
# window holds no whole clock hour (the whole-hour side is then empty).
WITHIN_HOUR_PARTS = {
    "gpu_rollup_window": "gpu_minute_window",
    "straggler_window": "straggler_minute_window",
    "straggler_stored_rows": "straggler_no_stored_rows",
}
_INCLUDE = re.compile(r"^(\s*-- @include )(\w+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    text: str
    description: str
    params: tuple[tuple[str, str], ...] = ()  # (name, ClickHouse type) in order of first use
    defaults: tuple[tuple[str, str], ...] = ()
    runs: str = ""  # `text` without its comment lines: what is sent
    runs_within_hour: str | None = None  # `runs` with WITHIN_HOUR_PARTS swapped in, for a window without a whole hour

    def sql(self, bound: Mapping[str, Any]) -> str:
        """The text to run with the parameters `bound` (see `bind`)."""
        if self.runs_within_hour is not None and not holds_whole_hour(bound.get("from_ms"), bound.get("to_ms")):
            return self.runs_within_hour
        return self.runs or self.text

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


def holds_whole_hour(from_ms: Any, to_ms: Any) -> bool:
    """Does the window [from_ms, to_ms] hold a whole clock hour, as part gpu_rollup_window
    counts them ([h0, h1) not empty)? True where unsure (not plain epoch ms, out of DateTime's
    range): the general text answers every window."""
    try:
        from_s, to_s = int(from_ms) // 1000, int(to_ms) // 1000
    except (TypeError, ValueError):
        return True
    if from_s < 0 or to_s < HOUR_S or to_s >= 2**32:
        return True
    m0 = from_s - from_s % 60  # the window's first whole minute
    h0 = m0 if m0 % HOUR_S == 0 else m0 - m0 % HOUR_S + HOUR_S  # its first whole hour
    h1 = (to_s - 59 * 60) // HOUR_S * HOUR_S + HOUR_S  # the end of its last whole hour
    return h0 < h1


def _lean(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


def _parse(name: str, text: str, raw: str = "") -> NamedQuery:
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
    swapped = _INCLUDE.sub(lambda m: m[1] + WITHIN_HOUR_PARTS.get(m[2], m[2]), raw)
    within_hour = None if swapped == raw else _lean(resolve(swapped, f"{_FOLDER}/{name}.sql"))
    return NamedQuery(name, text, description, tuple(params.items()), tuple(defaults), _lean(text), within_hour)


@functools.cache
def catalog() -> dict[str, NamedQuery]:
    raw = {
        e.name.removesuffix(".sql"): e.read_text("utf-8") for e in resources.files(_FOLDER).iterdir() if e.name.endswith(".sql")
    }
    return {name: _parse(name, file.text, raw[name]) for name, file in read_folder(_FOLDER).items()}


def get(name: str) -> NamedQuery:
    query = catalog().get(name)
    if query is None:
        raise ConfigError(f"unknown query {name!r}: `gpufleet sql --list` shows the named queries")
    return query


def run(store: Store, name: str, parameters: Mapping[str, Any]) -> QueryResult:
    """Run a named query with `parameters` (defaults fill the rest)."""
    query = get(name)
    bound = query.bind(parameters)
    return store.query(query.sql(bound), bound)
