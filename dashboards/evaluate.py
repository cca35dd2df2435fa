"""Evaluate the alert rules against a store, as Grafana would at one instant.

Each rule's SQL is macro-expanded for the window [at - window, at] (what Grafana does with
the rule's `relativeTimeRange`), run, and every returned row becomes an instance: its string
columns are the labels, `value` is checked with the rule's condition. Grafana's `for`
(pending period) is not modelled: this reports what the condition says at `at`.
The store is anything with `query(sql)`; this module never imports a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dashboards.alerts import RULES, AlertRule
from dashboards.config import AlertThresholds
from dashboards.macros import TimeRange, expand


class _Result(Protocol):
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Queryable(Protocol):
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class AlertInstance:
    """One firing instance: the rule, its labels (severity plus the query's label columns), the value."""

    rule: str
    title: str
    severity: str
    labels: dict[str, str] = field(hash=False)
    value: float

    def key(self) -> tuple[str, ...]:
        return (self.rule, *(f"{k}={v}" for k, v in sorted(self.labels.items())))


def evaluate_rule(store: Queryable, rule: AlertRule, at_ms: int, thresholds: AlertThresholds) -> list[AlertInstance]:
    sql = expand(rule.sql(thresholds), TimeRange.ending_at(at_ms, rule.window_s))
    result: _Result = store.query(sql)
    if result.rows and result.columns.count("value") != 1:
        raise ValueError(f"alert {rule.uid}: the query must return exactly one column named 'value', got {result.columns!r}")
    out = []
    for row in result.rows:
        record = dict(zip(result.columns, row, strict=True))
        value = float(record.pop("value"))
        if rule.fires(value, thresholds):
            labels = {k: str(v) for k, v in record.items()}
            out.append(AlertInstance(rule.uid, rule.title, rule.severity, labels, value))
    return out


def evaluate(
    store: Queryable, at_ms: int, thresholds: AlertThresholds | None = None, rules: Sequence[AlertRule] = RULES
) -> list[AlertInstance]:
    """Every firing instance of `rules` at `at_ms` (epoch ms), critical first."""
    thresholds = thresholds or AlertThresholds()
    found = [instance for rule in rules for instance in evaluate_rule(store, rule, at_ms, thresholds)]
    return sorted(found, key=lambda i: (i.severity != "critical", i.key()))


def by_rule(instances: Iterable[AlertInstance]) -> dict[str, list[AlertInstance]]:
    out: dict[str, list[AlertInstance]] = {}
    for instance in instances:
        out.setdefault(instance.rule, []).append(instance)
    return out


def summary_rows(instances: Iterable[AlertInstance], max_places: int = 4) -> list[tuple[str, str, int, str]]:
    """One row per firing rule: severity, title, instance count, and where (node: GPUs),
    so a rack on fire reads as one line rather than 64."""
    rows = []
    for rule, found in by_rule(instances).items():
        places: dict[str, list[str]] = {}
        for i in found:
            where = (
                i.labels.get("node") or i.labels.get("rack") or _job(i.labels) or i.labels.get("cluster")
                or i.labels.get("source_name") or rule
            )  # fmt: skip
            places.setdefault(where, []).extend([i.labels["gpu"]] if "gpu" in i.labels else [])
        shown = [f"{p} {_gpus(g)}".strip() for p, g in sorted(places.items())[:max_places]]
        more = len(places) - max_places
        rows.append((found[0].severity, found[0].title, len(found), "; ".join(shown) + (f"; +{more} more" if more > 0 else "")))
    return rows


def _job(labels: dict[str, str]) -> str | None:
    return f"job {labels['job_id']} ({labels.get('user') or '?'})" if "job_id" in labels else None


def _gpus(indexes: list[str]) -> str:
    unique = sorted(set(indexes), key=lambda g: (len(g), g))
    if not unique:
        return ""
    return "(all 8 GPUs)" if len(unique) == 8 else f"(GPU {','.join(unique)})"
