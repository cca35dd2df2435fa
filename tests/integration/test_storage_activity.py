"""Migration 012 against chDB: activity rollups equal raw, latest state shows the recovery
action, XID bursts group by silence, processes are stored and queryable per GPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards.alerts import RULES
from dashboards.evaluate import evaluate
from gpufleet.contract.columns import GPM_COLUMNS
from gpufleet.contract.schema import GpuEvent, GpuProcess, GpuProcesses
from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.support.storage_fixtures import Stored, new_store, rows_by_key, stored

__all__ = ["stored"]  # the fixture, used by name

AVERAGES = ", ".join(f"avg({c})" for c in GPM_COLUMNS)
ROLLED = ", ".join(f"sum({c}_sum) / nullIf(sum({c}_count), 0)" for c in GPM_COLUMNS)
RAW = f"""
SELECT uuid, {{bucket}}(ts) AS b, {AVERAGES}, min(sm_active_pct), max(sm_active_pct), max(tensor_active_pct),
       countIf(util_gpu_pct >= 90 AND sm_active_pct <= 5), max(recovery_action)
FROM gpu_samples GROUP BY uuid, b
"""
ROLLUP = f"""
SELECT uuid, {{bucket}}, {ROLLED}, min(sm_active_pct_min), max(sm_active_pct_max), max(tensor_active_pct_max),
       sum(stalled_samples), max(recovery_action_max)
FROM {{table}} GROUP BY uuid, {{bucket}}
"""


def _round(rows: dict[tuple[object, ...], tuple[object, ...]]) -> dict[tuple[object, ...], tuple[object, ...]]:
    return {k: tuple(round(v, 6) if isinstance(v, float) else v for v in values) for k, values in rows.items()}


@pytest.mark.parametrize(("table", "bucket"), [("gpu_minute", "minute"), ("gpu_hour", "hour")])
def test_activity_rollups_equal_raw(stored: Stored, table: str, bucket: str) -> None:
    fn = "toStartOfMinute" if bucket == "minute" else "toStartOfHour"
    raw = _round(rows_by_key(stored.store, RAW.format(bucket=fn)))
    rolled = _round(rows_by_key(stored.store, ROLLUP.format(table=table, bucket=bucket)))
    assert raw == rolled
    stalled = sum(int(v[-2]) for v in raw.values())  # type: ignore[call-overload]
    assert stalled > 0, "the default scenario stalls a GPU"


def test_stalled_samples_are_exactly_the_stalled_gpu(stored: Stored) -> None:
    [stall] = [f for f in stored.fleet.truth if f.kind == "stall"]
    uuid = stored.fleet.topology.labels_of(stall.gpus[0])["uuid"]
    sql = "SELECT uuid, sum(stalled_samples) FROM gpu_minute GROUP BY uuid HAVING sum(stalled_samples) > 0"
    rows = stored.store.query(sql).rows
    assert [r[0] for r in rows] == [uuid]
    assert rows[0][1] == (stored.end_ms - stall.start_ms) // 1000 + 1  # every stalled tick, no other


def test_latest_state_shows_the_recovery_action(stored: Stored) -> None:
    needs = stored.store.query("SELECT uuid, recovery_action FROM gpu_latest WHERE recovery_action != 0").rows
    [dbe] = [f for f in stored.fleet.truth if f.kind == "ecc_dbe"]
    expected = {(stored.fleet.topology.labels_of(g)["uuid"], 4) for g in dbe.gpus}  # DRAIN_AND_RESET
    expected |= {
        (stored.fleet.topology.labels_of(f.gpus[0])["uuid"], 4) for f in stored.fleet.truth if f.kind == "xid" and f.xid == 48
    }
    assert set(needs) == expected
    active = stored.store.query("SELECT count() FROM gpu_latest WHERE sm_active_pct > 50 AND tensor_active_pct > 0").rows[0][0]
    assert active > 0


def test_recovery_events_are_stored_with_their_action(stored: Stored) -> None:
    rows = stored.store.query("SELECT uuid, recovery_action FROM gpu_events WHERE kind = 'recovery_action'").rows
    expected = [(e.uuid, e.recovery_action) for e in stored.events if e.kind == "recovery_action"]
    assert sorted(rows) == sorted(expected) and {a for _, a in rows} == {2, 4}  # lost (NODE_REBOOT), DBE


def _xid(ts_ms: int, gpu: int, xid: int) -> GpuEvent:
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n1"}
    return GpuEvent(ts_ms=ts_ms, kind="xid", gpu_index=gpu, uuid=f"GPU-{gpu}", xid=xid, **labels)


@pytest.fixture
def bursts_store(chdb_path: Path) -> Iterator[ClickHouseStore]:
    store = new_store(chdb_path)
    migrate(store)
    yield store
    store.command("DROP DATABASE IF EXISTS " + store.query("SELECT currentDatabase()").rows[0][0])
    store.close()  # an open chDB connection would keep the embedded engine on this path


def test_xid_bursts_end_after_three_minutes_of_silence(bursts_store: ClickHouseStore) -> None:
    store = bursts_store
    t0 = 1_800_000_000_000
    minute = 60_000
    events = [
        _xid(t0, 0, 13),
        _xid(t0 + 2 * minute, 0, 48),  # 2 min later: same burst
        _xid(t0 + 5 * minute, 0, 48),  # 3 min later exactly: still the same burst
        _xid(t0 + 8 * minute + 1, 0, 63),  # 3 min + 1 ms of silence: a new burst
        _xid(t0, 1, 79),  # another GPU: its own burst
    ]
    store.insert_events(events, "bursts")
    rows = store.query(
        "SELECT gpu_index, toUnixTimestamp64Milli(first_ts), toUnixTimestamp64Milli(last_ts), events, xids, fatal_xids, actions"
        " FROM gpu_xid_bursts ORDER BY gpu_index, first_ts"
    ).rows
    assert [r[:6] for r in rows] == [
        (0, t0, t0 + 5 * minute, 3, [13, 48], [48]),
        (0, t0 + 8 * minute + 1, t0 + 8 * minute + 1, 1, [63], []),
        (1, t0, t0, 1, [79], [79]),
    ]
    assert "RESTART_BM" in rows[2][6][0]
    # the Fatal XID rule pages once per burst: GPU 0's two XID 48s are one instance
    fatal = [r for r in RULES if r.uid == "gpufleet-fatal-xid"]
    fired = evaluate(store, t0 + 9 * minute, rules=fatal)
    assert sorted((i.labels["gpu"], i.labels["xid"], i.value) for i in fired) == [("0", "48", 3.0), ("1", "79", 1.0)]


def test_processes_are_stored_per_gpu(stored: Stored) -> None:
    messages: list[GpuProcesses] = stored.fleet.processes()
    assert stored.store.insert_processes(messages, "processes") == sum(len(m.processes) for m in messages)
    assert stored.store.insert_processes(messages, "processes") > 0  # the same token again: stored once
    first = next(p for m in messages for p in m.processes)
    rows = stored.store.query(
        "SELECT pid, used_mem_mib FROM gpu_processes WHERE uuid = {uuid:String}", parameters={"uuid": first.uuid}
    ).rows
    assert rows == [(first.pid, first.used_mem_mib)]
    node = next(m.node for m in messages if m.processes)
    window = {"from_ms": stored.start_ms, "to_ms": stored.end_ms + 999}
    per_node = queries.run(stored.store, "gpu_processes", {"node": node, **window})
    expected = sorted((p.gpu_index, p.pid) for m in messages if m.node == node for p in m.processes)
    assert sorted((r[1], r[3]) for r in per_node.rows) == expected
    one = queries.run(stored.store, "gpu_processes", {"node": node, "gpu_index": expected[0][0], **window})
    assert [(r[1], r[3]) for r in one.rows] == [expected[0]]


def test_every_process_column_is_stored_as_sent(stored: Stored) -> None:
    """The Native block built column by column stores what the models hold, NULLs and MIG ids included."""
    # 7 ms past the fleet's whole seconds: apart from the rows other tests stored
    messages = [m.model_copy(update={"ts_ms": m.ts_ms + 7}) for m in stored.fleet.processes()]
    mig = GpuProcess(gpu_index=3, uuid="GPU-mig", pid=7, used_mem_mib=None, gpu_instance_id=2, compute_instance_id=0)
    messages[3] = messages[3].model_copy(update={"processes": [mig], "ts_ms": messages[3].ts_ms + 1})
    stored.store.insert_processes(messages, "processes-all-columns")
    sent = sorted(
        (m.ts_ms, m.cluster, m.hall, m.row, m.rack, m.node, p.gpu_index, p.uuid, p.pid, p.used_mem_mib,
         p.gpu_instance_id, p.compute_instance_id)
        for m in messages
        for p in m.processes
    )  # fmt: skip
    rows = stored.store.query(
        "SELECT toUnixTimestamp64Milli(ts), cluster, hall, row, rack, node, gpu_index, uuid, pid, used_mem_mib,"
        " gpu_instance_id, compute_instance_id FROM gpu_processes WHERE toUnixTimestamp64Milli(ts) % 1000 IN (7, 8)"
        " ORDER BY ALL"
    ).rows
    assert rows == sent
    assert (messages[3].ts_ms, "GPU-mig", 7, None, 2, 0) in [(r[0], *r[7:]) for r in rows]


def test_named_queries_find_the_stalled_and_recovering_gpus(stored: Stored) -> None:
    window = {"from_ms": stored.start_ms, "to_ms": stored.end_ms + 999}
    topo = stored.fleet.topology
    [stall] = [f for f in stored.fleet.truth if f.kind == "stall"]
    stalled = queries.run(stored.store, "stalled_gpus", {**window, "min_samples": 30})
    assert [r[3] for r in stalled.rows] == [topo.labels_of(stall.gpus[0])["uuid"]]
    recovering = queries.run(stored.store, "recovery_gpus", window)
    expected = {(topo.labels_of(e.gpus[0])["uuid"], 4) for e in stored.fleet.truth if e.kind == "ecc_dbe"}
    expected |= {(topo.labels_of(e.gpus[0])["uuid"], 4) for e in stored.fleet.truth if e.kind == "xid" and e.xid == 48}
    expected |= {(topo.labels_of(e.gpus[0])["uuid"], 2) for e in stored.fleet.truth if e.kind == "gpu_lost"}
    expected |= {(topo.labels_of(e.gpus[0])["uuid"], 2) for e in stored.fleet.truth if e.kind == "xid" and e.xid == 79}
    assert {(r[3], r[4]) for r in recovering.rows} == expected
    result = queries.run(stored.store, "activity_summary", window)
    summary = dict(zip(result.columns, result.rows[0], strict=True))
    assert summary["gpus_stalled"] == 0  # 108 stalled samples < the default 120
    one = queries.run(stored.store, "activity_summary", {**window, "stall_min_samples": 30})
    assert dict(zip(one.columns, one.rows[0], strict=True))["gpus_stalled"] == 1
    assert 0 < summary["tensor_active_pct"] < summary["sm_active_pct"] < summary["util_gpu_pct"] <= 100
    reporting_with_action = {u for u, a in expected if a == 4}  # lost GPUs stop reporting their samples
    assert summary["gpus_needing_recovery"] == len(reporting_with_action)
