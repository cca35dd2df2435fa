"""`job_top_energy` reads whole GPU-hours from gpu_hour and only the hours a job starts or ends
in (and the window's edges) from gpu_minute; it gives exactly the answers of the per-minute
form it replaced (tests/support/job_reference.py), on a stored synthetic fleet whose scheduler
starts and ends many jobs over five and a half hours, for windows on and off the hour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import SyntheticScheduler
from dashboards.macros import ALL, TimeRange, expand
from dashboards.sql import panel_sql
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment
from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.support.job_reference import TOP_ENERGY_BY_MINUTE, TOP_ENERGY_PANEL_BY_MINUTE

HOUR_MS = 3_600_000
START_MS = 1_796_000_000_000 // HOUR_MS * HOUR_MS + 17 * 60_000 + 13_000  # off the hour and the minute
TICKS, INTERVAL_S = 330, 60.0  # 5.5 h, one sample a minute


@pytest.fixture(scope="module")
def store(chdb_path: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore.open(f"chdb://{chdb_path}?database=jobs_q_{uuid.uuid4().hex[:8]}")
    migrate(s)
    fleet = SyntheticFleet(128, 5, load_scenario("none"), START_MS, INTERVAL_S, TICKS * INTERVAL_S)
    scheduler = SyntheticScheduler(fleet, 5, duration_s=(10 * 60.0, 3 * 3600.0))  # many starts and ends in the run
    for batch in range(0, TICKS, 30):
        frames: list[GpuFrame] = []
        jobs: list[JobAssignment] = []
        for _ in range(30):
            jobs += scheduler.tick(fleet.now_ms)
            frames.append(fleet.tick()[0])
        s.insert_samples(GpuFrame.concat(frames), f"q:{batch}")
        s.insert_jobs(jobs, f"q-jobs:{batch}")
    assert len(scheduler.ended) >= 10
    yield s
    s.close()


@pytest.mark.parametrize(
    ("from_ms", "to_ms"),
    [
        (START_MS - HOUR_MS, START_MS + TICKS * 60_000),  # the whole run
        (START_MS + 20 * 60_000 + 7_000, START_MS + 4 * HOUR_MS + 11 * 60_000 + 59_000),  # off the hour at both ends
        (START_MS - 17 * 60_000 - 13_000 + HOUR_MS, START_MS - 17 * 60_000 - 13_000 + 4 * HOUR_MS),  # on the hour
        (START_MS + 2 * HOUR_MS, START_MS + 2 * HOUR_MS + 25 * 60_000),  # inside one hour
    ],
)
def test_top_energy_reads_hours_and_edges_and_answers_as_the_per_minute_join(
    store: ClickHouseStore, from_ms: int, to_ms: int
) -> None:
    params = {"from_ms": from_ms, "to_ms": to_ms, "cluster": "", "limit": 10_000}
    expected = store.query(TOP_ENERGY_BY_MINUTE, params).rows
    query = queries.get("job_top_energy")
    got = store.query(query.text, query.bind(params)).rows
    assert len(expected) >= 5 and all(r[6] > 0 for r in expected)  # jobs with energy in every window
    assert got == expected
    hours = store.query("SELECT count() FROM gpu_hour").rows[0][0]
    assert hours >= 128 * 5  # whole hours exist to be read


@pytest.mark.parametrize(
    ("from_ms", "to_ms"),
    [
        (START_MS, START_MS + TICKS * 60_000),
        (START_MS + 20 * 60_000 + 7_000, START_MS + 4 * HOUR_MS + 11 * 60_000 + 59_000),
        (START_MS - 17 * 60_000 - 13_000 + HOUR_MS, START_MS - 17 * 60_000 - 13_000 + 4 * HOUR_MS),
    ],
)
def test_top_energy_panel_answers_as_the_per_minute_join(store: ClickHouseStore, from_ms: int, to_ms: int) -> None:
    time_range = TimeRange(from_ms, to_ms, 60_000)
    every = {"cluster": ALL}
    expected = store.query(expand(TOP_ENERGY_PANEL_BY_MINUTE.replace("LIMIT 20", "LIMIT 10000"), time_range, every)).rows
    sql = panel_sql("jobs_top_energy").render()
    assert "LIMIT 20" in sql
    got = store.query(expand(sql.replace("LIMIT 20", "LIMIT 10000"), time_range, every)).rows
    assert len(expected) >= 5 and got == expected
    (cluster,) = store.query("SELECT DISTINCT cluster FROM gpu_job_intervals").rows[0]
    narrowed = store.query(expand(sql, time_range, {"cluster": [cluster]})).rows
    assert narrowed == got[:20]
