"""Job attribution by join (storage 013) on the real engine: intervals from start/end rows,
the interval edges, per-job figures against numbers computed here from the same frames, and
sample rows that stay free of job labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment, JobGpu
from gpufleet.contract.schema import GpuEvent
from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from storage.native import frame_column_names
from tests.support.storage_fixtures import insert_all, make_fleet, new_store

CLUSTER, NODE_A, NODE_C, NODE_E = "colossus", "node-00000", "node-00001", "node-00002"


def _job(phase: str, job_id: str, ts_ms: int, node: str, gpus: range, **kw: Any) -> JobAssignment:
    return JobAssignment(
        ts_ms=ts_ms, phase=phase, source="slurm", cluster=CLUSTER, node=node, job_id=job_id,
        gpus=[JobGpu(gpu_index=i, uuid=None) for i in gpus], **kw,
    )  # fmt: skip


class Data:
    def __init__(self, store: ClickHouseStore) -> None:
        _, self.frames, fleet_events, self.t0 = make_fleet(gpus=24, ticks=180, seed=3)
        self.store = store
        # A: node 0 GPUs 0-3 from t0+10 s to t0+70 s; B follows on the same GPUs at the very
        # millisecond A ends, still running; C: all of node 1, started before the data, its
        # end (with its start) published by the reconciler only.
        self.a = (self.t0 + 10_000, self.t0 + 70_000)
        self.b_start = self.t0 + 70_000
        self.c = (self.t0 - 60_000, self.t0 + 120_000)
        mine = [
            GpuEvent(ts_ms=self.a[0] + 5_000, kind="xid", xid=79, gpu_index=1, uuid="x", severity="critical",
                     cluster=CLUSTER, hall="h", row="r", rack="k", node=NODE_A),
            GpuEvent(ts_ms=self.a[1], kind="gpu_lost", gpu_index=2, uuid="x", severity="critical",
                     cluster=CLUSTER, hall="h", row="r", rack="k", node=NODE_A),  # at A's end: B's
            GpuEvent(ts_ms=self.a[0] + 5_000, kind="xid", xid=48, gpu_index=5, uuid="x", severity="critical",
                     cluster=CLUSTER, hall="h", row="r", rack="k", node=NODE_A),  # GPU 5: no job
        ]  # fmt: skip
        self.events = [*fleet_events, *mine]
        insert_all(store, self.frames, self.events, "jobs")
        store.insert_jobs([_job("start", "A", self.a[0], NODE_A, range(4), user="alice")], "j1")
        store.insert_jobs([_job("end", "A", self.a[1], NODE_A, range(4), state="COMPLETED", exit_code=0)], "j2")
        store.insert_jobs([_job("end", "A", self.a[1], NODE_A, range(4), state="COMPLETED", exit_code=0)], "j2")  # retry
        store.insert_jobs([_job("start", "B", self.b_start, NODE_A, range(4), user="bob")], "j3")
        store.insert_jobs([_job("end", "C", self.c[1], NODE_C, range(8), start_ms=self.c[0], state="COMPLETED")], "j4")
        # E spans two nodes and leaves node 0 earlier than node 2.
        self.e = {NODE_A: (self.t0 + 20_000, self.t0 + 50_000), NODE_E: (self.t0 + 20_000, self.t0 + 100_000)}
        for node, (start, end) in self.e.items():
            gpus = range(6, 8) if node == NODE_A else range(2)
            store.insert_jobs([_job("start", "E", start, node, gpus), _job("end", "E", end, node, gpus)], f"e-{node}")
        self.frame = GpuFrame.concat(self.frames)

    def rows_of(self, node: str, gpus: range) -> np.ndarray:
        nodes = np.asarray(self.frame.labels["node"].to_list())
        mask: np.ndarray = (nodes == node) & np.isin(self.frame.gpu_index, list(gpus))
        return mask


@pytest.fixture(scope="module")
def data(chdb_path: Path) -> Iterator[Data]:
    store = new_store(chdb_path)  # the session's chDB path: one engine path per process
    migrate(store)
    yield Data(store)
    store.close()


def _run(data: Data, name: str, **params: Any) -> list[dict[str, Any]]:
    result = queries.run(data.store, name, params)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_start_and_end_rows_merge_into_one_interval_per_gpu(data: Data) -> None:
    rows = data.store.query(
        "SELECT job_id, node, gpu_index, toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts), user, state"
        " FROM gpu_job_intervals ORDER BY job_id, node, gpu_index"
    ).rows
    a = [r for r in rows if r[0] == "A"]
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in a] == [(i, *data.a, "alice", "COMPLETED") for i in range(4)]
    b = [r for r in rows if r[0] == "B"]
    assert [(r[2], r[3], r[4]) for r in b] == [(i, data.b_start, None) for i in range(4)]  # running: open end
    c = [r for r in rows if r[0] == "C"]
    assert [(r[1], r[2], r[3], r[4]) for r in c] == [(NODE_C, i, *data.c) for i in range(8)]  # from one end row


@pytest.mark.parametrize(
    ("offset_ms", "expected"),
    [(-1, []), (0, ["A"]), (59_999, ["A"]), (60_000, ["B"]), (10**9, ["B"])],
)
def test_a_moment_belongs_to_exactly_the_job_whose_interval_contains_it(data: Data, offset_ms: int, expected: list[str]) -> None:
    rows = _run(data, "job_at", cluster=CLUSTER, node=NODE_A, gpu_index=2, at_ms=data.a[0] + offset_ms)
    assert [r["job_id"] for r in rows] == expected


def test_a_free_gpu_has_no_job(data: Data) -> None:
    assert _run(data, "job_at", cluster=CLUSTER, node=NODE_A, gpu_index=5, at_ms=data.a[0] + 1000) == []


def test_each_sample_is_attributed_to_the_one_job_holding_its_gpu(data: Data) -> None:
    on_gpus = data.rows_of(NODE_A, range(4))
    ts = data.frame.ts_ms
    in_a = on_gpus & (ts >= data.a[0]) & (ts < data.a[1])
    in_b = on_gpus & (ts >= data.b_start)
    got_a = _run(data, "job_samples", job_id="A", limit=100_000)
    got_b = _run(data, "job_samples", job_id="B", limit=100_000)
    assert len(got_a) == int(in_a.sum()) == 240  # 60 ticks x 4 GPUs: the sample at the end instant is B's
    assert len(got_b) == int(in_b.sum())
    assert {(r["node"], r["gpu_index"]) for r in got_a} == {(NODE_A, i) for i in range(4)}
    stamps_a = {int(r["ts"].timestamp() * 1000) for r in got_a}
    assert min(stamps_a) == data.a[0] and max(stamps_a) == data.a[1] - 1000
    assert int(on_gpus.sum()) == len(got_a) + len(got_b) + 40  # the 10 ticks before A: no job


def test_a_job_on_two_nodes_gets_each_nodes_own_interval(data: Data) -> None:
    got = _run(data, "job_samples", job_id="E", limit=100_000)
    ts = data.frame.ts_ms
    expected = 0
    for node, (start, end) in data.e.items():
        gpus = range(6, 8) if node == NODE_A else range(2)
        expected += int((data.rows_of(node, gpus) & (ts >= start) & (ts < end)).sum())
    assert len(got) == expected and {r["node"] for r in got} == set(data.e)
    last_on_a = max(int(r["ts"].timestamp() * 1000) for r in got if r["node"] == NODE_A)
    assert last_on_a == data.e[NODE_A][1] - 1000  # node 0's end, not the job's last


def test_sample_rows_carry_no_job_columns(data: Data) -> None:
    columns = [
        r[0]
        for r in data.store.query(
            "SELECT name FROM system.columns WHERE table = 'gpu_samples' AND database = currentDatabase() ORDER BY position"
        ).rows
    ]
    assert sorted(columns) == sorted([*frame_column_names(), "inserted_at"])  # 012 added the GPM columns last
    assert not [c for c in columns if "job" in c]
    stored = data.store.query("SELECT count() FROM gpu_samples").rows[0][0]
    assert stored == len(data.frame)  # attribution adds no sample rows


def _minutes_of(data: Data, start_ms: int, end_ms: int) -> np.ndarray:
    minute = data.frame.ts_ms // 60_000 * 60_000
    return (minute + 30_000 >= start_ms) & (minute + 30_000 < end_ms)


def test_job_summary_matches_figures_computed_from_the_samples(data: Data) -> None:
    (got,) = _run(data, "job_summary", job_id="A")
    mask = data.rows_of(NODE_A, range(4)) & _minutes_of(data, *data.a)
    energy = data.frame.metrics["energy_mj"].astype(np.float64)
    expected_mj = sum(np.ptp(energy[mask & (data.frame.gpu_index == g)]) for g in range(4))
    assert got["gpus"] == 4 and got["nodes"] == 1 and got["user"] == "alice"
    assert got["gpu_hours"] == pytest.approx(4 * 60 / 3600, abs=1e-3)
    assert got["energy_kwh"] == pytest.approx(expected_mj / 3.6e9, abs=1e-4)
    power = data.frame.metrics["power_mw"][mask]
    assert got["mean_gpu_power_w"] == pytest.approx(power.mean() / 1000, abs=0.1)
    assert got["peak_gpu_power_w"] == pytest.approx(power.max() / 1000, abs=0.1)
    in_a = [e for e in data.events if e.node == NODE_A and e.gpu_index in range(4) and data.a[0] <= e.ts_ms < data.a[1]]
    assert got["xids"] == sum(e.kind == "xid" for e in in_a) >= 1
    assert got["gpus_lost"] == sum(e.kind == "gpu_lost" for e in in_a)  # the loss at A's end is B's
    assert 79 in got["xid_codes"] and 48 not in got["xid_codes"]
    util = data.frame.metrics["util_gpu_pct"].astype(np.float64)
    minutes = np.unique((data.frame.ts_ms // 60_000)[mask])
    good = sum(
        all(util[mask & (data.frame.gpu_index == g) & (data.frame.ts_ms // 60_000 == m)].mean() >= 10 for g in range(4))
        for m in minutes
    )
    assert got["job_minutes"] == got["observed_minutes"] == len(minutes)
    assert got["goodput"] == pytest.approx(good / len(minutes), abs=1e-3)
    for column, name in (("sm_active_pct", "mean_sm_active_pct"), ("tensor_active_pct", "mean_tensor_active_pct")):
        values, known = data.frame.metrics[column].astype(np.float64), ~data.frame.null_mask(column)
        per_gpu = [
            np.mean(
                [
                    values[rows].mean()
                    for m in minutes
                    if (rows := mask & known & (data.frame.gpu_index == g) & (data.frame.ts_ms // 60_000 == m)).any()
                ]
            )
            for g in range(4)
        ]
        assert 0 < got[name] == pytest.approx(np.mean(per_gpu), abs=0.06), name  # GPM activity: mean over GPU-minutes


def test_a_gpu_lost_at_the_end_instant_interrupts_the_next_job(data: Data) -> None:
    rows = {r["job_id"]: r for r in _run(data, "job_interruptions", from_ms=data.t0 - 120_000, to_ms=data.t0 + 10**6)}
    assert rows["A"]["xids"] >= 1 and rows["A"]["gpus_lost"] == 0
    assert rows["B"]["gpus_lost"] >= 1


def test_top_jobs_by_energy_ranks_by_counter_energy(data: Data) -> None:
    rows = _run(data, "job_top_energy", from_ms=data.t0 - 120_000, to_ms=data.t0 + 200_000)
    ids = [r["job_id"] for r in rows]
    assert set(ids) == {"A", "B", "C", "E"}
    energies = [r["energy_kwh"] for r in rows]
    assert energies == sorted(energies, reverse=True)
    assert ids[0] == "C"  # 8 GPUs for two minutes beats 4 GPUs for one or two
    (a,) = [r for r in rows if r["job_id"] == "A"]
    (summary,) = _run(data, "job_summary", job_id="A")
    assert a["energy_kwh"] == pytest.approx(summary["energy_kwh"], abs=1e-4)


def test_job_list_shows_running_and_finished_jobs(data: Data) -> None:
    rows = {r["job_id"]: r for r in _run(data, "job_list", from_ms=data.t0 - 120_000, to_ms=data.t0 + 200_000)}
    assert set(rows) == {"A", "B", "C", "E"}
    assert rows["B"]["ended"] is None and rows["A"]["ended"] is not None
    assert rows["A"]["gpu_hours"] == pytest.approx(4 * 60 / 3600, abs=1e-3)
    assert rows["C"]["gpus"] == 8
