"""One alert rule: its SQL file, condition, severity and runbook (`dashboards.alerts` lists them).

Every rule is one table-format SQL query (`dashboards/queries/alerts/<name>.sql`, named after
the rule's uid) that returns string label columns and exactly one numeric column, `value`,
plus a math condition on that value with the same threshold. `threshold` names an
`AlertThresholds` field, whose value is rendered into both, or is a literal number.
"""

from __future__ import annotations

import operator
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Literal

from dashboards.config import AlertThresholds
from dashboards.sql import alert_sql
from gpufleet.contract.recovery import RECOVERY_ACTIONS
from gpufleet.contract.xids import fatal_xids

# What one instance is about; its labels: gpu (cluster, node, gpu), node (cluster, node),
# rack (cluster, hall, rack), cluster (cluster), source (source_name), job (cluster, job_id, user).
Scope = Literal["gpu", "node", "rack", "cluster", "source", "job"]
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt}
# Phrases the rules' summaries and runbooks share, written ${NAME} in the TOML files.
PHRASES = {
    "GPU": "{{ $labels.cluster }}/{{ $labels.node }} GPU {{ $labels.gpu }}",
    "NODE": "{{ $labels.cluster }}/{{ $labels.node }}",
    "RACK": "{{ $labels.cluster }}/{{ $labels.hall }}/{{ $labels.rack }}",
    "DRAIN": "Drain the node in the scheduler before touching the GPU; running jobs checkpoint and move.",
    "COOLING": "The rack's GPUs reach thermal slowdown minutes after its coolant does: move or checkpoint its jobs if it lasts.",
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule. `threshold` names an `AlertThresholds` field or is a literal number."""

    uid: str
    title: str
    group: str
    severity: Literal["critical", "warning"]
    scope: Scope
    op: str
    threshold: str
    window_s: int
    pending: str  # Grafana's `for`: how long the condition must hold before it fires
    summary: str
    runbook: str

    @property
    def sql_name(self) -> str:
        return self.uid.removeprefix("gpufleet-").replace("-", "_")

    def threshold_value(self, thresholds: AlertThresholds) -> float:
        value = getattr(thresholds, self.threshold, None)
        return float(self.threshold if value is None else value)

    def sql(self, thresholds: AlertThresholds) -> str:
        values: dict[str, object] = {
            **thresholds.placeholders(),
            "fatal_xids": ", ".join(map(str, fatal_xids())),
            **_recovery_placeholders(),
        }
        return alert_sql(self.sql_name).render(values)

    def condition(self, thresholds: AlertThresholds) -> str:
        return f"$A {self.op} {number(self.threshold_value(thresholds))}"

    def fires(self, value: float, thresholds: AlertThresholds) -> bool:
        return OPS[self.op](value, self.threshold_value(thresholds))


def _recovery_placeholders() -> dict[str, str]:
    """NVML recovery-action codes with their names and runbook steps, as SQL array items."""
    actions = list(RECOVERY_ACTIONS.values())

    def quoted(texts: list[str]) -> str:
        return ", ".join("'" + t.replace("\\", "\\\\").replace("'", "\\'") + "'" for t in texts)

    return {
        "recovery_codes": ", ".join(str(a.code) for a in actions),
        "recovery_names": quoted([a.name for a in actions]),
        "recovery_steps": quoted([a.runbook for a in actions]),
    }


def number(value: float) -> str:
    """A threshold as Grafana's condition and the SQL spell it: 85, not 85.0."""
    return str(int(value)) if value == int(value) else str(value)


def load_rules(file: str) -> tuple[AlertRule, ...]:
    """The `[[rule]]` tables of `dashboards/queries/alerts/<file>`, in order, phrases filled.

    A key that is not an `AlertRule` field, a missing one, or a `${NAME}` that is not a
    phrase is an error here, at import, not a rule that quietly says less.
    """
    data = tomllib.loads(resources.files("dashboards.queries.alerts").joinpath(file).read_text("utf-8"))
    names = {f.name for f in fields(AlertRule)}
    rules = []
    for entry in data["rule"]:
        if set(entry) != names:
            raise ValueError(f"{file}: rule {entry.get('uid')!r} has {sorted(set(entry) ^ names)!r} wrong")
        rules.append(AlertRule(**{k: _phrased(file, v) for k, v in entry.items()}))
    return tuple(rules)


def _phrased(file: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = string.Template(value).safe_substitute(PHRASES)  # Grafana's own $labels/$values stay
    if "${" in text:
        raise ValueError(f"{file}: unknown phrase in {value!r}: have {', '.join(PHRASES)}")
    return text
