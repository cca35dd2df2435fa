"""The Jobs dashboard and the "job stalled" alert on a stored synthetic fleet with its
scheduler's jobs, plus one job deliberately placed on idle GPUs: the alert fires once for
that job (labelled with it) and never for working jobs; the per-job power panel shows only
the selected job and agrees with the frames."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dashboards.alerts import RULES
from dashboards.boards import jobs
from dashboards.evaluate import evaluate, summary_rows
from dashboards.macros import ALL, TimeRange, expand
from gpufleet.contract.jobs import JobAssignment, JobGpu
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.support.dashboards_data import StoredFleet, store_fleet

STALLED = [r for r in RULES if r.uid == "gpufleet-job-stalled"]


@pytest.fixture(scope="module")
def store(chdb_path: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore.open(f"chdb://{chdb_path}?database=jobs_dash_{uuid.uuid4().hex[:8]}")
    migrate(s)
    yield s
    s.close()


@pytest.fixture(scope="module")
def fleet(store: ClickHouseStore) -> StoredFleet:
    stored = store_fleet(store, gpus=128, ticks=900, scenario="none", seed=0)
    topo = stored.fleet.topology
    idle = np.flatnonzero(stored.fleet.job_of_gpu < 0)
    assert len(idle) >= 8, "seed 0 leaves idle nodes"
    node = int(topo.node_of_gpu[idle[0]])
    stuck = JobAssignment(
        ts_ms=stored.start_ms - 60_000, phase="start", source="slurm", cluster=topo.cluster, node=topo.node_name(node),
        job_id="stuck-1", user="mallory", gpus=[JobGpu(gpu_index=int(topo.gpu_index[g])) for g in topo.gpus_of_node(node)],
    )  # fmt: skip
    store.insert_jobs([stuck], "stuck")
    return stored


def test_job_stalled_fires_once_for_the_idle_job_only(store: ClickHouseStore, fleet: StoredFleet) -> None:
    fired = evaluate(store, fleet.end_ms, rules=STALLED)
    assert [(i.labels["job_id"], i.labels["user"]) for i in fired] == [("stuck-1", "mallory")]  # one per job, not per GPU
    assert fired[0].value >= 10
    assert summary_rows(fired)[0][3] == "job stuck-1 (mallory)"
    running = store.query("SELECT uniqExact(job_id) FROM gpu_job_intervals WHERE end_ts IS NULL").rows[0][0]
    assert running >= 2  # the scheduler's working jobs were there and did not fire


def test_job_stalled_waits_until_the_job_idled_long_enough(store: ClickHouseStore, fleet: StoredFleet) -> None:
    assert evaluate(store, fleet.start_ms + 5 * 60_000, rules=STALLED) == []  # only 5 minutes of data yet


def test_power_panel_shows_the_selected_job_and_matches_the_frames(store: ClickHouseStore, fleet: StoredFleet) -> None:
    board = jobs.build()
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "job"]
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 60_000)
    names = [r[0] for r in store.query(expand(variable["query"]["rawSql"], time_range, {"cluster": ALL})).rows]
    assert "stuck-1" in names and len(names) >= 2
    job_id = next(n for n in names if n != "stuck-1")
    (panel,) = [p for p in board["panels"] if p["title"] == "Power of the selected jobs"]
    rows = store.query(expand(panel["targets"][0]["rawSql"], time_range, {"cluster": ALL, "job": [job_id]})).rows
    assert rows and {r[1] for r in rows} == {job_id}
    gpus = store.query("SELECT node, gpu_index FROM gpu_job_intervals WHERE job_id = {j:String}", {"j": job_id}).rows
    minute_ms = int(rows[3][0].timestamp() * 1000)
    members = set(gpus)
    watts = 0.0
    for key, values in fleet.per_gpu("power_mw", minute_ms, minute_ms + 59_999).items():
        if (key[0], int(key[1])) in members:
            watts += float(np.mean(values)) / 1000
    assert rows[3][2] == pytest.approx(watts / 1000, rel=1e-6)


def test_floor_map_puts_each_selected_job_on_its_racks(store: ClickHouseStore, fleet: StoredFleet) -> None:
    board = jobs.build()
    (panel,) = [p for p in board["panels"] if p["title"].startswith("Floor map")]
    assert panel["fieldConfig"]["defaults"]["custom"]["cellOptions"]["type"] == "color-background"
    time_range = TimeRange(fleet.start_ms, fleet.end_ms, 60_000)
    topo = fleet.fleet.topology
    rack_of = {topo.node_name(int(n)): int(r) for n, r in zip(topo.node_of_gpu.tolist(), topo.rack_of_gpu.tolist(), strict=True)}
    biggest = store.query(
        "SELECT job_id FROM gpu_job_intervals WHERE job_id != 'stuck-1' GROUP BY job_id ORDER BY count() DESC, job_id LIMIT 1"
    ).rows[0][0]
    for job_id in ("stuck-1", biggest):
        result = store.query(expand(panel["targets"][0]["rawSql"], time_range, {"cluster": ALL, "job": [job_id]}))
        assert result.columns[:2] == ["hall", "row"] and result.columns[2:] == [*map(str, range(1, 9)), "more"]
        expected: dict[tuple[str, str], dict[int, int]] = {}
        held = store.query("SELECT node, gpu_index FROM gpu_job_intervals WHERE job_id = {j:String}", {"j": job_id}).rows
        for node, _ in held:
            rack = rack_of[node]
            gpu = int(topo.gpus_of_rack(rack)[0])
            key = (topo.labels_of(gpu)["hall"], topo.labels_of(gpu)["row"])
            cells = expected.setdefault(key, {})
            cells[rack % 8 + 1] = cells.get(rack % 8 + 1, 0) + 1
        got = {(r[0], r[1]): {p: v for p, v in enumerate(r[2:10], start=1) if v is not None} for r in result.rows}
        assert {k: v for k, v in got.items() if v} == expected, job_id
        assert all(r[10] is None for r in result.rows)  # synthetic rows hold 8 racks
    assert sum(v for cells in expected.values() for v in cells.values()) >= 8
