"""Every named query runs on a stored synthetic fleet with faults, and finds what the fleet
model injected (its `truth`) or what the same numbers computed from the raw frames say."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.contract.xids import catalog as xid_catalog
from storage import queries
from storage.base import QueryResult
from tests.support.storage_fixtures import GPUS, TICKS, Stored, stored

__all__ = ["stored"]  # the fixture, used by name


def records(result: QueryResult) -> list[dict[str, object]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def window(s: Stored) -> dict[str, object]:
    return {"from_ms": s.start_ms, "to_ms": s.end_ms}


def uuids_of(s: Stored, kind: str) -> set[str]:
    values, codes = s.fleet.topology.labels["uuid"].values, s.fleet.topology.labels["uuid"].codes
    return {values[codes[g]] for f in s.fleet.truth if f.kind == kind for g in f.gpus}


def fleet_megawatts(s: Stored) -> np.ndarray:
    return np.array([int(f.metrics["power_mw"].sum()) for f in s.frames]) / 1e9


@pytest.mark.parametrize("name", sorted(queries.catalog()))
def test_every_named_query_runs_with_its_defaults_and_documents_itself(stored: Stored, name: str) -> None:
    named = queries.get(name)
    assert len(named.description) > 40 and "Params:" in named.description
    result = queries.run(stored.store, name, {})  # defaults only: the last hour/day ends now
    if result.rows:  # chDB returns no column names with an empty result
        assert len(set(result.columns)) == len(result.columns) == len(result.rows[0])


def test_fleet_power_now_peak_low_match_raw(stored: Stored) -> None:
    got = records(queries.run(stored.store, "fleet_power", window(stored)))[0]
    mw = fleet_megawatts(stored)
    assert got["now_megawatts"] == pytest.approx(mw[-1]) and got["peak_megawatts"] == pytest.approx(mw.max())
    assert got["low_megawatts"] == pytest.approx(mw.min()) and got["gpus_reporting_now"] == len(stored.frames[-1])
    series = records(queries.run(stored.store, "fleet_power_series", {**window(stored), "step_s": 60}))
    assert len(series) in (3, 4) and max(r["peak_megawatts"] for r in series) == pytest.approx(mw.max())  # type: ignore[type-var]


def test_energy_matches_the_counters(stored: Stored) -> None:
    got = records(queries.run(stored.store, "energy", window(stored)))[0]
    first, last = stored.frames[0], stored.frames[-1]
    used: dict[str, int] = {}
    for frame in stored.frames:
        for u, e in zip(frame.label_list("uuid"), frame.metrics["energy_mj"].tolist(), strict=True):
            lo, hi = used.get(u + "lo", e), used.get(u + "hi", e)
            used[u + "lo"], used[u + "hi"] = min(lo, e), max(hi, e)
    total = sum(used[u + "hi"] - used[u + "lo"] for u in set(first.label_list("uuid")))
    assert got["gpus"] == GPUS and got["energy_megawatt_hours"] == pytest.approx(total / 3.6e12)
    assert len(last) < GPUS  # some GPUs stopped reporting, and still count for what they used


def test_hottest_and_throttled_find_the_cooling_failure_and_power_brake(stored: Stored) -> None:
    cooling, brake = uuids_of(stored, "cooling_failure"), uuids_of(stored, "power_brake")
    hottest = records(queries.run(stored.store, "hottest_gpus", {**window(stored), "limit": 10}))
    assert len(hottest) == 10 and {r["uuid"] for r in hottest} <= cooling
    assert hottest[0]["peak_gpu_temp_c"] >= 87  # type: ignore[operator]
    throttled = records(queries.run(stored.store, "throttled_gpus", {**window(stored), "min_s": 1, "limit": 1000}))
    thermal = {r["uuid"] for r in throttled if "thermal" in str(r["why"])}
    braked = {r["uuid"] for r in throttled if "power brake" in str(r["why"])}
    assert thermal and thermal <= cooling
    assert braked == brake
    assert {r["uuid"] for r in throttled} <= cooling | brake


def test_stragglers_finds_the_straggler_and_only_slow_gpus(stored: Stored) -> None:
    found = records(queries.run(stored.store, "stragglers", {**window(stored), "deviation": 0.1, "min_minutes": 2}))
    flagged = {r["uuid"] for r in found}
    straggler = uuids_of(stored, "straggler")
    assert straggler <= flagged
    # a power-braked node is slow too; a rack cooking as a whole moves its own median
    assert flagged <= straggler | uuids_of(stored, "power_brake") | uuids_of(stored, "cooling_failure")
    row = next(r for r in found if r["uuid"] in straggler)
    assert row["avg_sm_clock_mhz"] < 0.9 * row["rack_median_sm_clock_mhz"]  # type: ignore[operator]


def test_power_swing_equals_the_raw_series_and_finds_a_checkpoint_dip(stored: Stored) -> None:
    span_s = 30
    got = records(queries.run(stored.store, "power_swing", {**window(stored), "span_s": span_s}))[0]
    mw = fleet_megawatts(stored)
    ramp = np.diff(mw)
    peak = np.array([mw[max(0, i - span_s) : i + 1].max() for i in range(len(mw))])
    drop = peak - mw
    assert got["max_rise_megawatts_per_s"] == pytest.approx(ramp.max())
    assert got["max_fall_megawatts_per_s"] == pytest.approx(-ramp.min())
    assert got["largest_drop_megawatts"] == pytest.approx(drop.max())
    trough_s = int(got["largest_drop_to"].timestamp()) - stored.start_ms // 1000  # type: ignore[attr-defined]
    assert trough_s == int(drop.argmax())
    # the trough is a load dip (same GPUs reporting) while some job checkpoints
    jobs = stored.fleet._jobs  # the model's job table: the ground truth for checkpoints
    ckpt = ((trough_s + jobs.ckpt_offset_s) % jobs.ckpt_every_s) < jobs.ckpt_len_s
    assert (ckpt & (jobs.job >= 0)).sum() > 0
    assert abs(int(got["gpus_at_peak"]) - int(got["gpus_at_trough"])) <= 8  # type: ignore[call-overload]


def test_node_health_query_lists_only_problem_nodes(stored: Stored) -> None:
    problems = records(queries.run(stored.store, "node_health", {"only_problems": 1}))
    everyone = records(queries.run(stored.store, "node_health", {"only_problems": 0}))
    assert len(everyone) == GPUS // 8 and 3 <= len(problems) < len(everyone)
    assert problems[0]["status"] != "reporting"  # stale nodes first


def test_xid_summary_joins_the_catalog(stored: Stored) -> None:
    rows = {r["xid"]: r for r in records(queries.run(stored.store, "xid_summary", window(stored)))}
    expected = {e.xid for e in stored.events if e.kind == "xid"}
    assert set(rows) == expected and {48, 79} <= expected
    assert rows[79]["meaning"] == xid_catalog()[79].meaning and rows[79]["fatal"] is True


def test_relative_times_and_missing_parameters() -> None:
    named = queries.get("fleet_power")
    bound = named.bind({"from_ms": "now-24h"}, now_ms=100_000_000)
    assert bound == {"from_ms": 100_000_000 - 86_400_000, "to_ms": 100_000_000}
    with pytest.raises(Exception, match="no parameter"):
        named.bind({"form_ms": "now"})
    assert TICKS > 120  # the fixture spans three minutes, which the rollup tests rely on
