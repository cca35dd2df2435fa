"""SQL files include shared parts: resolved once at load, so what runs is one plain text."""

from __future__ import annotations

import pytest

from dashboards.sql import alert_sql, panel_sql
from storage import queries
from storage.sqlfiles import resolve


def test_an_include_is_replaced_by_the_part_with_its_arguments_and_indent() -> None:
    text = "SELECT x\nFROM\n(\n    -- @include gpu_rollup_window(uuid,  energy_mj_max)\n)\n"
    out = resolve(text, "test.sql")
    assert "@include" not in out and out.endswith(")\n")
    assert "    SELECT uuid, energy_mj_max FROM gpu_hour WHERE hour >= h0 AND hour < h1" in out.splitlines()
    assert "The GPU rollup rows" not in out  # the part's own comment is not copied


def test_an_unknown_part_or_missing_arguments_is_an_error() -> None:
    with pytest.raises(KeyError, match="'no_such_part'"):
        resolve("-- @include no_such_part\n", "test.sql")
    with pytest.raises(KeyError, match="needs"):
        resolve("-- @include gpu_rollup_window\n", "test.sql")
    with pytest.raises(KeyError, match="takes no"):
        resolve("-- @include fleet_power_seconds(ts)\n", "test.sql")


def test_every_query_file_is_resolved_and_keeps_its_own_description() -> None:
    named = queries.catalog()
    assert all("@include" not in q.text for q in named.values())
    swing = named["power_swing"]
    assert swing.description.startswith("Power swing of the fleet") and "Included after WITH" not in swing.description
    assert swing.text.count("FROM power_fleet_1s") == 1  # through two levels of parts
    assert dict(swing.params) == {"from_ms": "Int64", "to_ms": "Int64", "span_s": "UInt32"}  # parameters of the parts count
    assert "remap_failure_any" in alert_sql("row_remap_failure").render()
    assert "sum(mem_temp_c_sum)" in panel_sql("fleet_hbm_temp_heatmap").render({"bands": "1", "low": 20, "high": 110})


def test_alert_rules_are_read_from_their_toml_files_with_phrases_filled() -> None:
    from dashboards.alerts import RULES
    from dashboards.rule import _phrased

    assert len(RULES) == len({r.uid for r in RULES}) == 25
    lost = next(r for r in RULES if r.uid == "gpufleet-gpu-lost")
    assert lost.summary == "{{ $labels.cluster }}/{{ $labels.node }} GPU {{ $labels.gpu }} fell off the bus"
    assert all("${" not in r.summary + r.runbook for r in RULES)
    with pytest.raises(ValueError, match="unknown phrase"):
        _phrased("rules.toml", "${GPUS} at {{ $values.A }}")
