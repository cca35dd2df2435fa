"""Expand Grafana ClickHouse-plugin macros the way the plugin does, so that panel and alert
SQL can run in chDB exactly as Grafana would send it to ClickHouse.

Two stages, as in the plugin (shared/reference/grafana.md §1):
- frontend: `$__conditionalAll(cond, $var)` becomes `cond`, or `1=1` when the variable is
  All or empty; then dashboard variables (`$var`, `${var}`, `${var:singlequote}`) are
  replaced. Alert rules never pass through this stage, so alert SQL must not use it.
- backend (`pkg/macros/macros.go`): `$__timeFilter(c)`, `$__fromTime`, `$__timeInterval(c)`,
  … become literal ClickHouse expressions for the query's time range and interval.
Unknown `$__` macros are left in place, as the plugin leaves them; ClickHouse then rejects
the query, which is what a test should see.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

ALL = "$__all"  # the value Grafana gives a variable when "All" is selected


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A query's time range (epoch milliseconds, UTC) and its interval (the panel's step)."""

    from_ms: int
    to_ms: int
    interval_ms: int = 1000

    @classmethod
    def ending_at(cls, to_ms: int, span_s: int, interval_ms: int = 1000) -> TimeRange:
        return cls(to_ms - span_s * 1000, to_ms, interval_ms)


def _datetime(ms: int) -> str:
    return f"toDateTime({ms // 1000})"


def _datetime64(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({ms})"


def _date(ms: int) -> str:
    return f"toDate('{dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()}')"


def _interval_s(r: TimeRange) -> int:
    return max(r.interval_ms // 1000, 1)


def _one(args: Sequence[str], name: str) -> str:
    if len(args) != 1:
        raise ValueError(f"macro $__{name} expects 1 argument, got {len(args)}: {list(args)!r}")
    return args[0]


def _range(column: str, low: str, high: str) -> str:
    return f"{column} >= {low} AND {column} <= {high}"


def _date_time_filter(r: TimeRange, args: Sequence[str]) -> str:
    if len(args) != 2:
        raise ValueError(f"macro $__dateTimeFilter expects 2 arguments, got {len(args)}: {list(args)!r}")
    date_part = _range(args[0], _date(r.from_ms), _date(r.to_ms))
    time_part = _range(args[1], _datetime(r.from_ms), _datetime(r.to_ms))
    return f"({date_part}) AND ({time_part})"


_Macro = Callable[[TimeRange, Sequence[str]], str]
# The plugin's backend macros, one for one (pkg/macros/macros.go `Macros`).
BACKEND_MACROS: dict[str, _Macro] = {
    "fromTime": lambda r, a: _datetime(r.from_ms),
    "toTime": lambda r, a: _datetime(r.to_ms),
    "fromTime_ms": lambda r, a: _datetime64(r.from_ms),
    "toTime_ms": lambda r, a: _datetime64(r.to_ms),
    "timeFilter": lambda r, a: _range(_one(a, "timeFilter"), _datetime(r.from_ms), _datetime(r.to_ms)),
    "timeFilter_ms": lambda r, a: _range(_one(a, "timeFilter_ms"), _datetime64(r.from_ms), _datetime64(r.to_ms)),
    "dateFilter": lambda r, a: _range(_one(a, "dateFilter"), _date(r.from_ms), _date(r.to_ms)),
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": lambda r, a: f"toStartOfInterval(toDateTime({_one(a, 'timeInterval')}), INTERVAL {_interval_s(r)} second)",
    "timeInterval_ms": lambda r, a: (
        f"toStartOfInterval(toDateTime64({_one(a, 'timeInterval_ms')}, 3), INTERVAL {max(r.interval_ms, 1)} millisecond)"
    ),
    "interval_s": lambda r, a: str(_interval_s(r)),
}
_MACRO = re.compile(r"\$__(" + "|".join(sorted(BACKEND_MACROS, key=len, reverse=True)) + r")\b")


def macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Split the arguments of the call whose '(' is at `open_paren`; returns them and the
    index just past the closing ')'. Commas inside nested parentheses or quotes do not split."""
    depth, quote, start, args = 0, "", open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i].strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i].strip())
            start = i + 1
    raise ValueError(f"unbalanced parentheses after position {open_paren} in {sql[open_paren : open_paren + 60]!r}")


def expand_backend(sql: str, time_range: TimeRange) -> str:
    """Replace the plugin's backend macros with literal expressions for `time_range`."""
    out, pos = [], 0
    for match in _MACRO.finditer(sql):
        if match.start() < pos:
            continue  # inside the arguments of a macro already expanded
        name = match[1]
        end = match.end()
        args: list[str] = []
        if end < len(sql) and sql[end] == "(":
            args, end = macro_args(sql, end)
            args = [expand_backend(a, time_range) for a in args]
        out.append(sql[pos : match.start()])
        out.append(BACKEND_MACROS[name](time_range, args))
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def apply_conditional_all(sql: str, variables: Mapping[str, str | Sequence[str]]) -> str:
    """The frontend's `$__conditionalAll(cond, $var)`: `cond`, or `1=1` for All or empty."""
    marker = "$__conditionalAll("
    index = sql.rfind(marker)
    while index != -1:
        args, end = macro_args(sql, index + len(marker) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll expects 2 arguments, got {args!r}")
        value = variables.get(args[1].lstrip("$").strip("{}"), "")
        values = [value] if isinstance(value, str) else list(value)
        everything = not values or values == [""] or ALL in values
        sql = sql[:index] + ("1=1" if everything else args[0]) + sql[end:]
        index = sql.rfind(marker)
    return sql


_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)")


def interpolate(sql: str, variables: Mapping[str, str | Sequence[str]]) -> str:
    """Replace dashboard variables; multi-values join with commas (`singlequote` quotes each)."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if name not in variables:
            return match[0]
        value = variables[name]
        values = [value] if isinstance(value, str) else list(value)
        if match[2] == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        if match[2] not in (None, "raw", "csv"):
            raise ValueError(f"variable format {match[2]!r} is not supported by this expander")
        return ",".join(values)

    return _VARIABLE.sub(replace, sql)


def expand(sql: str, time_range: TimeRange, variables: Mapping[str, str | Sequence[str]] | None = None) -> str:
    """What ClickHouse receives: frontend stage (conditionalAll, variables), then backend macros."""
    variables = variables or {}
    return expand_backend(interpolate(apply_conditional_all(sql, variables), variables), time_range)
