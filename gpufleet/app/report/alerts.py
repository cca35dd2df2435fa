"""The alerts that fired in the report's window, from the alert rules themselves.

`gpufleet alerts check` answers for one instant; a report covers a window. Each rule is
evaluated (through `dashboards.evaluate.evaluate_rule`, the function `alerts check` uses)
at instants whose look-back windows tile the report's window from its end, so a fault that
came and went inside the window is still caught. Long windows are capped at
`max_evaluations` instants per rule, spread evenly: then the rule's windows sample the
report window rather than cover it, and the report says so. Grafana's pending period
(`for`) is not modelled, as in `alerts check`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.alerts import RULES, AlertRule
from dashboards.config import AlertThresholds
from dashboards.evaluate import Queryable, evaluate_rule

MAX_EVALUATIONS = 2  # per rule (the end of the window and its middle): 44 evaluations for 22 rules, ~3 s on 24 h of 10,000 GPUs


@dataclass(slots=True)
class FiredAlert:
    """One alert instance (rule and labels) that fired at one or more evaluation instants."""

    rule: str
    title: str
    severity: str
    labels: dict[str, str]
    value: float  # the largest value seen at any instant
    first_ms: int
    last_ms: int
    times: int  # instants at which it fired

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "labels": self.labels,
            "value": self.value,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "times": self.times,
        }


@dataclass(frozen=True, slots=True)
class AlertCoverage:
    """How the window was evaluated: instants per rule, and whether the windows tile it."""

    evaluations: int  # rule evaluations run in total
    complete: bool  # every rule's look-back windows cover the whole report window


def instants(from_ms: int, to_ms: int, window_s: int, max_evaluations: int = MAX_EVALUATIONS) -> list[int]:
    """Evaluation instants, newest first, ending at `to_ms`: enough for the rule's windows
    to tile [from_ms, to_ms], at most `max_evaluations`, evenly spaced."""
    span_ms = max(to_ms - from_ms, 1)
    n = min(max(1, math.ceil(span_ms / (window_s * 1000))), max_evaluations)
    step_ms = span_ms / n
    return [to_ms - round(i * step_ms) for i in range(n)]


def fired_in_window(
    store: Queryable,
    from_ms: int,
    to_ms: int,
    thresholds: AlertThresholds | None = None,
    rules: Sequence[AlertRule] = RULES,
    max_evaluations: int = MAX_EVALUATIONS,
) -> tuple[list[FiredAlert], AlertCoverage]:
    """Every alert instance that fired at some instant in [from_ms, to_ms], critical first."""
    thresholds = thresholds or AlertThresholds()
    fired: dict[tuple[str, ...], FiredAlert] = {}
    runs, complete = 0, True
    for rule in rules:
        at_list = instants(from_ms, to_ms, rule.window_s, max_evaluations)
        complete &= len(at_list) * rule.window_s * 1000 >= to_ms - from_ms
        for at_ms in at_list:
            runs += 1
            for i in evaluate_rule(store, rule, at_ms, thresholds):
                seen = fired.get(i.key())
                if seen is None:
                    fired[i.key()] = FiredAlert(i.rule, i.title, i.severity, dict(i.labels), i.value, at_ms, at_ms, 1)
                else:
                    seen.value = max(seen.value, i.value)
                    seen.first_ms, seen.times = min(seen.first_ms, at_ms), seen.times + 1
    ordered = sorted(fired.values(), key=lambda a: (a.severity != "critical", a.rule, sorted(a.labels.items())))
    return ordered, AlertCoverage(runs, complete)


def named_gpus(alerts: Sequence[FiredAlert]) -> set[tuple[str, str]]:
    """(node, gpu index) of every GPU an alert names (GPU-scoped rules label node and gpu)."""
    return {(a.labels["node"], a.labels["gpu"]) for a in alerts if "node" in a.labels and "gpu" in a.labels}
