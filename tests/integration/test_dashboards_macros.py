"""The macro expander against the plugin's documented expansions (pkg/macros/macros.go and the
frontend's $__conditionalAll), and against ClickHouse itself: an expanded query must run."""

from __future__ import annotations

import pytest

from dashboards.macros import ALL, TimeRange, apply_conditional_all, expand, expand_backend, interpolate, macro_args

# 2026-11-28T12:00:00.250Z .. 12:10:00.750Z, 30 s interval
RANGE = TimeRange(1_795_867_200_250, 1_795_867_800_750, 30_000)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeFilter(ts)", "ts >= toDateTime(1795867200) AND ts <= toDateTime(1795867800)"),
        (
            "$__timeFilter_ms(ts)",
            "ts >= fromUnixTimestamp64Milli(1795867200250) AND ts <= fromUnixTimestamp64Milli(1795867800750)",
        ),
        ("$__dateFilter(d)", "d >= toDate('2026-11-28') AND d <= toDate('2026-11-28')"),
        (
            "$__dateTimeFilter(d, ts)",
            "(d >= toDate('2026-11-28') AND d <= toDate('2026-11-28')) AND "
            "(ts >= toDateTime(1795867200) AND ts <= toDateTime(1795867800))",
        ),
        ("$__fromTime", "toDateTime(1795867200)"),
        ("$__toTime - INTERVAL 60 SECOND", "toDateTime(1795867800) - INTERVAL 60 SECOND"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1795867800750)"),
        ("$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 30 second)"),
        ("$__timeInterval_ms(ts)", "toStartOfInterval(toDateTime64(ts, 3), INTERVAL 30000 millisecond)"),
        ("$__interval_s", "30"),
        (
            "$__timeFilter(toDateTime(minute, 'UTC'))",
            "toDateTime(minute, 'UTC') >= toDateTime(1795867200) AND toDateTime(minute, 'UTC') <= toDateTime(1795867800)",
        ),
        ("$__unknownMacro(x)", "$__unknownMacro(x)"),  # left alone, as the plugin does
    ],
)
def test_backend_macros_expand_like_the_plugin(sql: str, expected: str) -> None:
    assert expand_backend(sql, RANGE) == expected


def test_interval_never_below_one_second() -> None:
    assert expand_backend("$__interval_s", TimeRange(0, 1000, 200)) == "1"


def test_macro_args_respect_nesting_and_quotes() -> None:
    sql = "f(a(1, 2), 'x,y', b)"
    assert macro_args(sql, 1) == (["a(1, 2)", "'x,y'", "b"], len(sql))
    with pytest.raises(ValueError, match="unbalanced"):
        macro_args("f(a(1, 2)", 1)


def test_wrong_argument_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="expects 1 argument"):
        expand_backend("$__timeFilter(a, b)", RANGE)


def test_conditional_all_keeps_the_condition_only_for_a_selection() -> None:
    sql = (
        "WHERE $__conditionalAll(node IN (${node:singlequote}), $node) "
        "AND $__conditionalAll(hall IN (${hall:singlequote}), $hall)"
    )
    assert apply_conditional_all(sql, {"node": ALL, "hall": ""}) == "WHERE 1=1 AND 1=1"
    picked = apply_conditional_all(sql, {"node": ["n1", "n2"], "hall": [ALL]})
    assert picked == "WHERE node IN (${node:singlequote}) AND 1=1"
    assert interpolate(picked, {"node": ["n1", "o'k"]}) == "WHERE node IN ('n1','o\\'k') AND 1=1"


def test_variables_plain_and_braced() -> None:
    assert interpolate("x = $gpu OR y = ${gpu}", {"gpu": "3"}) == "x = 3 OR y = 3"
    assert interpolate("$__timeFilter(ts) AND $other", {"gpu": "3"}) == "$__timeFilter(ts) AND $other"


def test_expanded_sql_runs_in_clickhouse(store: object) -> None:
    sql = expand(
        "SELECT $__timeInterval(ts) AS time, count() AS n FROM (SELECT toDateTime64($__fromTime, 3) + number AS ts, "
        "'a' AS node FROM numbers(600)) WHERE $__timeFilter(ts) AND $__conditionalAll(node IN (${node:singlequote}), $node) "
        "GROUP BY time ORDER BY time",
        RANGE,
        {"node": ["a"]},
    )
    rows = store.query(sql).rows  # type: ignore[attr-defined]
    assert len(rows) == 20 and sum(r[1] for r in rows) == 600
