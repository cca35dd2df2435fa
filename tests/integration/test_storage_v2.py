"""Storage v2 on the real engine (chDB): migration from v1, rollups against raw, retried
inserts, views. One synthetic fleet with the default faults is stored once per module."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.xids import catalog
from storage.migrations import MIGRATIONS_TABLE, Ttls, available, migrate, sync_ttls
from tests.support.storage_fixtures import (
    GPUS,
    Stored,
    insert_all,
    insert_into_old_store,
    make_fleet,
    new_store,
    rows_by_key,
    stored,
)

__all__ = ["stored"]  # the fixture, used by name

# The same aggregates two ways: from raw rows, and merged from the rollup's states.
RAW_MINUTE = """
SELECT uuid, toStartOfMinute(ts) AS minute, count(), avg(power_mw), min(power_mw), max(power_mw),
       quantilesTiming(0.5, 0.99)(toUInt16(intDiv(power_mw, 1000))),
       avg(gpu_temp_c), max(gpu_temp_c), quantilesTiming(0.5, 0.99)(toUInt16(greatest(gpu_temp_c, 0))),
       max(mem_temp_c), quantilesTiming(0.5, 0.99)(toUInt16(greatest(mem_temp_c, 0))),
       avg(util_gpu_pct), min(util_gpu_pct), quantilesTiming(0.5, 0.99)(toUInt16(util_gpu_pct)),
       groupBitOr(clocks_event_reasons), countIf(bitAnd(clocks_event_reasons, 0x60) != 0),
       countIf(bitAnd(clocks_event_reasons, 0x80) != 0),
       max(energy_mj) - min(energy_mj), max(ecc_uncorrected_count) - min(ecc_uncorrected_count),
       max(pcie_replay_count) - min(pcie_replay_count), max(nvlink_replay_errors) - min(nvlink_replay_errors)
FROM gpu_samples GROUP BY uuid, minute
"""
ROLLUP_MINUTE = """
SELECT uuid, {bucket}, sum(samples), sum(power_mw_sum) / nullIf(sum(power_mw_count), 0), min(power_mw_min), max(power_mw_max),
       quantilesTimingArray(0.5, 0.99)(power_w_values),
       sum(gpu_temp_c_sum) / nullIf(sum(gpu_temp_c_count), 0), max(gpu_temp_c_max),
       quantilesTimingArray(0.5, 0.99)(gpu_temp_c_values),
       max(mem_temp_c_max), quantilesTimingArray(0.5, 0.99)(mem_temp_c_values),
       sum(util_gpu_pct_sum) / nullIf(sum(util_gpu_pct_count), 0), min(util_gpu_pct_min),
       quantilesTimingArray(0.5, 0.99)(util_gpu_pct_values),
       groupBitOr(reasons_seen), sum(thermal_samples), sum(power_brake_samples),
       max(energy_mj_max) - min(energy_mj_min), max(ecc_uncorrected_count_max) - min(ecc_uncorrected_count_min),
       max(pcie_replay_count_max) - min(pcie_replay_count_min), max(nvlink_replay_errors_max) - min(nvlink_replay_errors_min)
FROM {table} GROUP BY uuid, {bucket}
"""


QUANTILES = ("power_w", "intDiv(power_mw, 1000)", "power_mw"), ("gpu_temp_c", "greatest(gpu_temp_c, 0)", "gpu_temp_c"), (
    "mem_temp_c", "greatest(mem_temp_c, 0)", "mem_temp_c"), ("util_gpu_pct", "util_gpu_pct", "util_gpu_pct")  # fmt: skip


def hourly(sql: str, rollup: bool) -> str:
    """RAW_MINUTE / ROLLUP_MINUTE per hour, where quantiles come from histograms (005)."""
    for name, expr, column in QUANTILES:
        if rollup:
            sql = sql.replace(f"quantilesTimingArray(0.5, 0.99)({name}_values)", f"sumMap({name}_hist)")
        else:
            hist = f"sumMapIf([toUInt16({expr.replace(column, f'assumeNotNull({column})')})], [toUInt64(1)], isNotNull({column}))"
            sql = sql.replace(f"quantilesTiming(0.5, 0.99)(toUInt16({expr}))", hist)
    return sql.replace("toStartOfMinute", "toStartOfHour").format(table="gpu_hour", bucket="hour")


# First of the tests on `stored`: node status is judged against now() (stale after 30 s),
# so it must not wait behind the tests that build stores of their own.
def test_node_health_sees_down_node_lost_gpu_and_faults(stored: Stored) -> None:
    store, fleet = stored.store, stored.fleet
    health = {r[0]: r[1:] for r in store.query(
        "SELECT node, status, gpus_expected, gpus_reporting, gpus_missing, active_faults, fatal_xids_1h FROM node_health"
    ).rows}  # fmt: skip
    assert len(health) == GPUS // 8
    node_of = fleet.topology.labels["node"]
    node = {f.kind: node_of.values[node_of.codes[f.gpus[0]]] for f in fleet.truth if f.kind != "xid"}
    assert health[node["node_down"]][0] == "stale"
    assert health[node["gpu_lost"]][:4] == ("reporting", 8, 7, 1)
    assert health[node["ecc_dbe"]][4] >= 1 and health[node["ecc_dbe"]][5] >= 1  # remap pending + fatal XID 48
    healthy = [n for n, h in health.items() if h[0] == "reporting" and h[3] == 0 and h[4] == 0]
    assert len(healthy) >= len(health) - 16  # a cooling rack is 8 nodes; the rest are healthy


def test_minute_and_hour_rollups_equal_raw_aggregates(stored: Stored) -> None:
    raw = rows_by_key(stored.store, RAW_MINUTE)
    minute = rows_by_key(stored.store, ROLLUP_MINUTE.format(table="gpu_minute", bucket="minute"))
    assert len(raw) >= GPUS * 3 and raw == minute
    raw_hour = rows_by_key(stored.store, hourly(RAW_MINUTE, rollup=False))
    hour = rows_by_key(stored.store, hourly(ROLLUP_MINUTE, rollup=True))
    assert raw_hour == hour and "quantiles" not in hourly(ROLLUP_MINUTE, rollup=True)
    # the faults left their marks in the rollup: thermal throttling and power brake seconds
    flags = stored.store.query("SELECT sum(thermal_samples), sum(power_brake_samples) FROM gpu_minute").rows[0]
    assert flags[0] > 0 and flags[1] > 0


def test_hourly_histogram_quantiles_are_nearest_rank(stored: Stored) -> None:
    got = stored.store.query(
        "SELECT uuid, hour, gpufleet_hist_quantile(sumMap(power_w_hist), 0.5),"
        " gpufleet_hist_quantile(sumMap(power_w_hist), 0.99), gpufleet_hist_quantile(sumMap(gpu_temp_c_hist), 0.99)"
        " FROM gpu_hour GROUP BY uuid, hour ORDER BY uuid, hour LIMIT 20"
    ).rows
    for uuid_, hour, p50, p99, t99 in got:
        raw = stored.store.query(
            "SELECT intDiv(power_mw, 1000), gpu_temp_c FROM gpu_samples"
            " WHERE uuid = {u:String} AND toStartOfHour(ts) = {h:DateTime}",
            {"u": uuid_, "h": hour},
        ).rows
        watts, temps = np.array([r[0] for r in raw]), np.array([r[1] for r in raw])
        assert (p50, p99) == tuple(np.percentile(watts, [50, 99], method="inverted_cdf").astype(int))
        assert t99 == int(np.percentile(temps, 99, method="inverted_cdf"))


def test_power_rollups_equal_raw_per_second(stored: Stored) -> None:
    store = stored.store
    raw = rows_by_key(
        store, "SELECT toStartOfSecond(ts) AS s, rack, sum(power_mw), count(power_mw) FROM gpu_samples GROUP BY s, rack"
    )
    rack = rows_by_key(store, "SELECT ts, rack, sum(power_mw), sum(gpus) FROM power_rack_1s GROUP BY ts, rack")
    assert raw == rack
    fleet = store.query("SELECT ts, sum(power_mw), sum(gpus) FROM power_fleet_1s GROUP BY ts ORDER BY ts").rows
    hall = store.query("SELECT ts, sum(power_mw), sum(gpus) FROM power_hall_1s GROUP BY ts ORDER BY ts").rows
    expected = [(int(f.ts_ms[0]) // 1000, int(f.metrics["power_mw"].sum()), len(f)) for f in stored.frames]
    assert [(int(t.timestamp()), p, g) for t, p, g in fleet] == expected
    assert hall == fleet


def test_retried_batch_is_not_counted_twice_by_any_rollup(chdb_path: Path) -> None:
    store = new_store(chdb_path)
    migrate(store)
    _, frames, _, _ = make_fleet(gpus=64, ticks=20)
    batch = GpuFrame.concat(frames)
    rollup_counts = (
        "SELECT (SELECT count() FROM gpu_samples), (SELECT sum(samples) FROM gpu_minute), (SELECT sum(samples) FROM gpu_hour),"
        " (SELECT sum(gpus) FROM power_rack_1s), (SELECT sum(gpus) FROM power_hall_1s), (SELECT sum(gpus) FROM power_fleet_1s)"
    )
    store.insert_samples(batch, "topic-0:100-199")
    store.insert_samples(batch, "topic-0:100-199")  # the ingest service retrying after a lost ack
    assert store.query(rollup_counts).rows[0] == (len(batch),) * 6
    store.insert_samples(batch, "topic-0:200-299")  # different offsets: really new rows
    assert store.query(rollup_counts).rows[0] == (2 * len(batch),) * 6


def test_rollups_of_fields_a_gpu_does_not_support(chdb_path: Path) -> None:
    store = new_store(chdb_path)
    migrate(store)
    _, frames, _, _ = make_fleet(gpus=64, ticks=20)
    batch = GpuFrame.concat(frames)
    batch.nulls["gpu_temp_c"] = batch.gpu_index == 2  # NULL in NVML terms: not supported
    batch.nulls["power_mw"] = batch.gpu_index == 5
    store.insert_samples(batch, "with-nulls")
    assert rows_by_key(store, RAW_MINUTE) == rows_by_key(store, ROLLUP_MINUTE.format(table="gpu_minute", bucket="minute"))
    gpus = store.query("SELECT sum(gpus) FROM power_fleet_1s").rows[0][0]
    assert gpus == len(batch) - int((batch.gpu_index == 5).sum())  # a GPU without power is not counted


def test_migration_from_v1_keeps_every_row_and_backfills_rollups(chdb_path: Path) -> None:
    store = new_store(chdb_path)
    v1 = available()[0]
    for statement in v1.statements({"raw_ttl_days": "14"}):
        store.command(statement)
    store.command(f"CREATE TABLE {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
                  " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")  # fmt: skip
    store.command(f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES (1, 'raw_tables', '{v1.checksum}')")
    _, frames, events, _ = make_fleet(gpus=64, ticks=150)
    insert_into_old_store(store, frames[:100], events, "v1")
    fingerprint = "SELECT count(), sum(cityHash64(*)) FROM gpu_samples"
    before = store.query(fingerprint).rows[0]

    applied = migrate(store)
    assert [m.version for m in applied] == [m.version for m in available()[1:]]
    assert store.query(fingerprint).rows[0] == before  # nothing lost, nothing changed
    assert store.query("SELECT sum(samples) FROM gpu_minute").rows[0][0] == before[0]  # backfilled
    assert store.query("SELECT count() FROM gpu_latest").rows[0][0] == 64

    insert_all(store, frames[100:], [], "v2")  # rows after the migration flow through the views
    raw = rows_by_key(store, RAW_MINUTE)
    assert raw == rows_by_key(store, ROLLUP_MINUTE.format(table="gpu_minute", bucket="minute"))
    assert store.query("SELECT sum(gpus) FROM power_fleet_1s").rows[0][0] == sum(len(f) for f in frames)


def test_v2_store_rechained_by_011_counts_nothing_twice(chdb_path: Path) -> None:
    """A store that ran the v2 views (004-010) and holds rows gets the 011 chain: the rollups
    still equal raw afterwards, with rows written before and after the migration."""
    store = new_store(chdb_path)
    store.command(f"CREATE TABLE {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
                  " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")  # fmt: skip
    for m in available():
        if m.version < 11:
            for statement in m.statements(Ttls().params()):
                store.command(statement)
            record = f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ({m.version}, '{m.name}', '{m.checksum}')"
            store.command(record)
    assert "power_w_q" in store.query("SELECT groupArray(name) FROM system.columns WHERE table = 'gpu_minute'").rows[0][0]
    _, frames, events, _ = make_fleet(gpus=64, ticks=150)
    insert_into_old_store(store, frames[:100], events, "v2")

    assert [m.version for m in migrate(store)] == [m.version for m in available() if m.version >= 11]
    insert_all(store, frames[100:], [], "v3")
    minute = ROLLUP_MINUTE.format(table="gpu_minute", bucket="minute")
    assert rows_by_key(store, RAW_MINUTE) == rows_by_key(store, minute)
    assert rows_by_key(store, hourly(RAW_MINUTE, rollup=False)) == rows_by_key(store, hourly(ROLLUP_MINUTE, rollup=True))
    fleet = store.query("SELECT sum(gpus) FROM power_fleet_1s").rows[0][0]
    assert fleet == store.query("SELECT count(power_mw) FROM gpu_samples").rows[0][0]


def test_ttls_follow_settings_on_remigrate(chdb_path: Path) -> None:
    store = new_store(chdb_path)
    migrate(store, raw_ttl_days=14, minute_ttl_days=90, hour_ttl_days=730)
    migrate(store, raw_ttl_days=7, minute_ttl_days=30, hour_ttl_days=365)
    days = {
        name: int(m[1]) if (m := re.search(r"toIntervalDay\((\d+)\)", engine)) else None
        for name, engine in store.query("SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()").rows
    }
    assert days["gpu_samples"] == days["gpu_latest_state"] == 7
    assert days["gpu_minute"] == days["power_rack_1s"] == days["power_hall_1s"] == days["power_fleet_1s"] == 30
    assert days["gpu_hour"] == 365
    assert sync_ttls(store, Ttls(7, 30, 365)) == []  # already right: no ALTER


def test_xid_catalog_is_loaded_once_and_joined(stored: Stored) -> None:
    store = stored.store
    migrate(store)  # a second load of the same catalog is deduplicated
    assert store.query("SELECT count() FROM xid_catalog").rows[0][0] == len(catalog())
    rows = store.query("SELECT xid, meaning, action, fatal, node FROM xid_events").rows
    assert len(rows) == sum(1 for e in stored.events if e.kind == "xid")
    by_xid = {r[0]: r for r in rows}
    assert by_xid[48][1] == catalog()[48].meaning and by_xid[48][3] is True
    assert by_xid[79][2] == catalog()[79].action


def test_gpu_latest_is_the_newest_sample_of_every_gpu(stored: Stored) -> None:
    store = stored.store
    latest = rows_by_key(store, "SELECT uuid, toUnixTimestamp64Milli(ts), power_mw, gpu_temp_c FROM gpu_latest", 1)
    raw = rows_by_key(
        store,
        "SELECT uuid, toUnixTimestamp64Milli(max(ts)), argMax(power_mw, ts), argMax(gpu_temp_c, ts)"
        " FROM gpu_samples GROUP BY uuid",
        1,
    )
    assert latest == raw and len(latest) == GPUS
