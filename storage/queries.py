"""Named queries: parameterized SQL files in `storage/sql/queries/`, shared by the CLI,
the demo summary and (later) the dashboards and alert rules.

Each file starts with a comment block that is its description; parameters are bound by
ClickHouse (`{name:Type}`), never pasted into the text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gpufleet.errors import ConfigError
from storage.base import QueryResult, Store


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    text: str
    description: str


@functools.cache
def catalog() -> dict[str, NamedQuery]:
    out = {}
    for entry in resources.files("storage.sql.queries").iterdir():
        if entry.name.endswith(".sql"):
            text = entry.read_text("utf-8")
            doc = [line[2:].strip() for line in text.splitlines() if line.startswith("--")]
            name = entry.name.removesuffix(".sql")
            out[name] = NamedQuery(name, text, " ".join(doc))
    return dict(sorted(out.items()))


def get(name: str) -> NamedQuery:
    query = catalog().get(name)
    if query is None:
        raise ConfigError(f"unknown query {name!r}: `gpufleet sql --list` shows the named queries")
    return query


def run(store: Store, name: str, parameters: Mapping[str, Any]) -> QueryResult:
    return store.query(get(name).text, parameters)
