"""gpu_straggler_hour (migration 018): `stragglers` over whole hours reads what the writer
computed once each hour was over, and answers like raw rows whether those rows are current,
stale (later rows through another writer), or recomputed after a retried insert."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from storage.straggler_hours import HOUR_S, due
from tests.integration.test_query_shapes import RAW_STRAGGLERS, agree
from tests.support.storage_fixtures import new_store, start_into_hour_ms

GPUS, SECONDS, BATCH = 16, 2 * 3600 + 600, 300  # at least one whole clock hour, partial ones around it


@dataclasses.dataclass
class Hours:
    store: ClickHouseStore
    frames: list[GpuFrame]
    window: dict[str, Any]
    whole_hour_s: int  # the first whole clock hour in the data


@pytest.fixture(scope="module")
def hours(chdb_path: Path) -> Iterator[Hours]:
    store = new_store(chdb_path)
    migrate(store)
    start_ms = start_into_hour_ms(SECONDS)  # 20 min past an hour: the same hours on every run
    fleet = SyntheticFleet(GPUS, 3, load_scenario("default"), start_ms, 1.0, float(SECONDS))
    frames = []
    for batch in range(0, SECONDS, BATCH):
        frames.append(GpuFrame.concat([fleet.tick()[0] for _ in range(min(BATCH, SECONDS - batch))]))
        store.insert_samples(frames[-1], f"hours-{batch}")
    window = {"from_ms": start_ms, "to_ms": start_ms + (SECONDS - 1) * 1000, "deviation": 0.1, "min_minutes": 1}
    yield Hours(store, frames, window, (start_ms // 1000 // HOUR_S + 1) * HOUR_S)
    store.close()


def answer(store: ClickHouseStore, window: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(named query, raw statistic), both as sorted tuples of the raw query's columns."""
    result = queries.run(store, "stragglers", window)
    cols = ("uuid", "slow_minutes", "busy_minutes", "avg_sm_clock_mhz", "rack_median_sm_clock_mhz", "avg_util_pct")
    rows = [dict(zip(result.columns, r, strict=True)) for r in result.rows]
    got = sorted((*(r[c] for c in cols), r["rack_median_util_pct"]) for r in rows)
    return got, [tuple(r) for r in store.query(RAW_STRAGGLERS, window).rows]


def current(store: ClickHouseStore, hour_s: int) -> tuple[bool, int]:
    """(a row stored for every GPU of the hour in gpu_hour, how many of its racks' sample counts equal gpu_hour's)."""
    every, fresh = store.query(
        """WITH toDateTime({h:UInt32}) AS h
           SELECT count() = (SELECT uniqExact(uuid) FROM gpu_hour WHERE hour = h), (SELECT count() FROM
               (SELECT rack, max(rack_samples) AS n FROM gpu_straggler_hour FINAL WHERE hour = h GROUP BY rack) AS s
               INNER JOIN (SELECT rack, sum(samples) AS n FROM gpu_hour WHERE hour = h GROUP BY rack) AS g USING (rack, n))
           FROM gpu_straggler_hour FINAL WHERE hour = h""",
        {"h": hour_s},
    ).rows[0]
    return bool(every), int(fresh)


def test_the_writer_computes_each_closed_hour_and_the_query_answers_like_raw_rows(hours: Hours) -> None:
    every, fresh = current(hours.store, hours.whole_hour_s)
    assert every and fresh >= 1  # every GPU of the hour (the scenario loses one on the way), its racks current
    got, raw = answer(hours.store, hours.window)
    assert got and agree(got, raw)
    other = {**hours.window, "deviation": 0.12}  # not a stored deviation: all from gpu_minute
    assert agree(*answer(hours.store, other))  # the queries once each; a rounding tie may round either way


def test_a_window_without_a_whole_hour_reads_no_stored_hour_and_answers_like_raw_rows(hours: Hours) -> None:
    stragglers, hour_ms = queries.get("stragglers"), hours.whole_hour_s * 1000
    for first_ms, last_ms, whole in (
        (hour_ms + 600_000, hour_ms + 2_400_000, False),  # 30 min inside the hour
        (hour_ms - 1_800_000, hour_ms + 1_799_000, False),  # 1 h across its start
        (hour_ms, hour_ms + HOUR_S * 1000 - 1000, True),  # exactly the clock hour: the stored rows
    ):
        window = {**hours.window, "from_ms": first_ms, "to_ms": last_ms}
        text = stragglers.sql(stragglers.bind(window))
        assert ("gpu_straggler_hour" in text) is whole and (text == stragglers.runs_within_hour) is not whole
        got, raw = answer(hours.store, window)
        assert got and agree(got, raw)


def test_late_rows_from_another_writer_and_a_retry_count_once(hours: Hours) -> None:
    store, hour_ms = hours.store, hours.whole_hour_s * 1000
    late = next(f for f in hours.frames if f.ts_ms.min() >= hour_ms and f.ts_ms.max() < hour_ms + HOUR_S * 1000)
    clock = late.metrics["sm_clock_mhz"].copy()
    clock[::GPUS] //= 3  # one GPU (the first of every tick) runs at a third of its clock, in rows that come late
    slow = dataclasses.replace(late, metrics={**late.metrics, "sm_clock_mhz": clock})
    before = answer(store, hours.window)[0]

    other_writer = ClickHouseStore(store.client, store.dsn)  # knows nothing of the hours computed
    other_writer.insert_samples(slow, "late-1")
    assert current(store, hours.whole_hour_s)[1] == 0  # stored but stale: the query computes it
    got, raw = answer(store, hours.window)
    assert agree(got, raw) and got != before

    store.insert_samples(slow, "late-1")  # the retry, through the writer that computed the hour
    every, fresh = current(store, hours.whole_hour_s)
    assert every and fresh >= 1  # recomputed, current again
    # The retry added nothing: the raw answer is the same, and the rollups' agrees with it and with
    # the one before to the rounding unit (the hour is now read from its stored row, not from
    # gpu_minute, so a mean on a rounding tie can round the other way: 57.2 against 57.3, seen in CI).
    got_after, raw_after = answer(store, hours.window)
    assert raw_after == raw
    assert agree(got_after, raw) and agree(got_after, got)


def test_which_hours_a_writer_computes_after_an_insert() -> None:
    h = 100 * HOUR_S

    def at(*ts_ms: int) -> npt.NDArray[np.int64]:
        return np.array(ts_ms, dtype=np.int64)

    assert due(at(h * 1000 + 5_000, h * 1000 + 9_000), {h - HOUR_S}) == []  # inside an open hour
    assert due(at(h * 1000 - 2_000, h * 1000 + 1_000), {h - 2 * HOUR_S}) == [h - HOUR_S]  # crossed into a new one
    assert due(at(h * 1000 + 5_000, h * 1000 + 9_000), set()) == [h - HOUR_S]  # a new writer: the hour before, once
    assert due(at(h * 1000 + 5_000, h * 1000 + 9_000), {h - HOUR_S, h}) == [h]  # late rows for an hour it computed
    day_ms = 86_400_000
    spread = at(h * 1000, h * 1000 + day_ms, h * 1000 + 2 * day_ms)  # a broken clock: rows a day apart
    assert due(spread, {h - HOUR_S}) == [h, h + 86_400]  # the hours holding rows, not the 48 between
