"""Migration 014 on chDB: the rollups the writer computes from each batch (minute, hour,
rack-second, latest state) and the views still chained from them equal, column by column,
what the materialized views they replace wrote from the same batches; and a retry
after the raw insert landed but a rollup insert failed stores every level exactly once."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clickhouse_connect.driver.exceptions import OperationalError

import storage.clickhouse
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.errors import TransientError
from gpufleet.contract.frame import GpuFrame
from storage.clickhouse import STREAM_ROLLUPS_VERSION, ClickHouseStore, RawInserter, connect
from storage.migrations import MIGRATIONS_TABLE, Ttls, available, hour_from_minute_sql, migrate
from tests.support.retry_ingest import ingest_fixed_after_two_retries
from tests.support.storage_fixtures import make_fleet, new_store

ROLLUP_TABLES = ("gpu_minute", "gpu_hour", "power_rack_1s", "power_hall_1s", "power_fleet_1s")
_SAF = re.compile(r"^SimpleAggregateFunction\((\w+),")


def view_fed_store(chdb_path: Path) -> ClickHouseStore:
    """A store migrated up to just before 014: its views on gpu_samples feed the rollups."""
    store = new_store(chdb_path)
    store.command(f"CREATE TABLE {MIGRATIONS_TABLE} (version UInt32, name String, checksum String,"
                  " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")  # fmt: skip
    for m in available():
        if m.version < STREAM_ROLLUPS_VERSION:
            for statement in m.statements(Ttls().params()):
                store.command(statement)
            record = f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ({m.version}, '{m.name}', '{m.checksum}')"
            store.command(record)
    return store


def merged(store: ClickHouseStore, table: str) -> list[tuple[object, ...]]:
    """Every key of `table` with each column merged by its own aggregate function (arrays sorted:
    groupArray's order is not part of its meaning)."""
    columns = store.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
        {"t": table},
    ).rows
    keys = [str(n) for n, t in columns if not str(t).startswith("SimpleAggregateFunction")]
    values = []
    for name, ch_type in columns:
        match = _SAF.match(str(ch_type))
        if match:
            fn = match[1]
            values.append(f"arraySort({fn}({name}))" if fn == "groupArrayArray" else f"{fn}({name})")
    key_list = ", ".join(keys)
    return store.query(f"SELECT {key_list}, {', '.join(values)} FROM {table} GROUP BY {key_list} ORDER BY {key_list}").rows


def latest(store: ClickHouseStore) -> list[tuple[object, ...]]:
    return store.query("SELECT * FROM gpu_latest_state FINAL ORDER BY cluster, node, gpu_index").rows


def with_gaps(frame: GpuFrame, seed: int) -> GpuFrame:
    """The frame with NULLs the real fleet has: unsupported fields per GPU, lost readings at random."""
    rng = np.random.default_rng(seed)
    nulls = dict(frame.nulls)
    shares = {"power_mw": 0.05, "gpu_temp_c": 0.1, "clocks_event_reasons": 0.2, "sm_active_pct": 0.3, "energy_mj": 0.1,
              "remap_pending": 0.5, "recovery_action": 0.7, "util_gpu_pct": 0.05}  # fmt: skip
    for name, share in shares.items():
        nulls[name] = frame.null_mask(name) | (rng.random(len(frame)) < share)
    nulls["mem_temp_c"] = frame.gpu_index == 3  # a GPU without an HBM sensor: every minute NULL
    metrics = {k: np.where(nulls[k], np.zeros(1, v.dtype), v) if k in nulls else v for k, v in frame.metrics.items()}
    return GpuFrame(frame.ts_ms, frame.seq, frame.gpu_index, frame.labels, metrics, nulls)


def test_stream_rollups_equal_the_views_they_replace_column_by_column(chdb_path: Path) -> None:
    views = view_fed_store(chdb_path)
    stream = new_store(chdb_path)
    migrate(stream)
    assert stream.streams_rollups() and not views.streams_rollups()
    _, frames, _, _ = make_fleet(gpus=96, ticks=130)
    # batches of uneven length, crossing minute boundaries; one batch out of time order
    cuts = [0, 7, 40, 41, 95, 130]
    batches = [with_gaps(GpuFrame.concat(frames[a:b]), a) for a, b in itertools.pairwise(cuts)]
    batches[1], batches[2] = batches[2], batches[1]
    for i, batch in enumerate(batches):
        views.insert_samples(batch, f"b-{i}")
        stream.insert_samples(batch, f"b-{i}")
    for table in ROLLUP_TABLES:
        expected = merged(views, table)
        assert expected and merged(stream, table) == expected, table
    assert latest(stream) == latest(views) and len(latest(views)) == 96
    # the gaps reached every kind of aggregate: all-NULL minutes, partial counts
    nulls = stream.query("SELECT countIf(mem_temp_c_max IS NULL), countIf(power_mw_count < samples) FROM gpu_minute").rows[0]
    assert nulls[0] > 0 and nulls[1] > 0


def test_hour_rollup_sql_gives_the_writers_hour_rows(chdb_path: Path) -> None:
    """`hour_from_minute_sql` (gpu_hour_mv's SELECT, for minute rows put in by SQL) rolls the
    writer's minute rows up to the same gpu_hour the writer merged itself."""
    store = new_store(chdb_path)
    migrate(store)
    _, frames, _, _ = make_fleet(gpus=32, ticks=90)
    for i in range(0, 90, 30):
        store.insert_samples(with_gaps(GpuFrame.concat(frames[i : i + 30]), i), f"h-{i}")
    written = merged(store, "gpu_hour")
    store.command("TRUNCATE TABLE gpu_hour")
    store.command(hour_from_minute_sql(where="m.samples > 0"))
    assert written and merged(store, "gpu_hour") == written


def test_latest_state_takes_the_newest_row_and_the_first_of_a_tie(chdb_path: Path) -> None:
    store = new_store(chdb_path)
    migrate(store)
    fleet = SyntheticFleet(16, 2, load_scenario("none"), (int(time.time()) - 10) * 1000, 1.0, 60)
    frames = [fleet.tick()[0] for _ in range(3)]
    newest, tie = frames[2], frames[2].take(np.arange(16))
    tie.metrics["power_mw"] = tie.metrics["power_mw"] + 1  # same GPU, same ts, later in the batch
    batch = GpuFrame.concat([frames[1], newest, tie, frames[0]])
    store.insert_samples(batch, "tie")
    got = store.query("SELECT gpu_index, toUnixTimestamp64Milli(ts), power_mw FROM gpu_latest_state FINAL WHERE node = {n:String}"
                      " ORDER BY gpu_index", {"n": newest.label_list("node")[0]}).rows  # fmt: skip
    first = newest.take(np.flatnonzero(newest.labels["node"].codes == newest.labels["node"].codes[0]))
    assert got == list(zip(first.gpu_index.tolist(), first.ts_ms.tolist(), first.metrics["power_mw"].tolist(), strict=True))


def counts(store: ClickHouseStore) -> tuple[int, ...]:
    return tuple(store.query(
        "SELECT (SELECT count() FROM gpu_samples), (SELECT sum(samples) FROM gpu_minute), (SELECT sum(samples) FROM gpu_hour),"
        " (SELECT sum(gpus) FROM power_rack_1s), (SELECT sum(gpus) FROM power_hall_1s), (SELECT sum(gpus) FROM power_fleet_1s),"
        " (SELECT count() FROM gpu_latest_state FINAL)"
    ).rows[0])  # fmt: skip


@pytest.mark.parametrize("refusal", ["view", "constraint"])
def test_retry_after_raw_stored_and_a_rollup_failed_stores_every_level_once(chdb_path: Path, refusal: str) -> None:
    """The raw insert and the minute, hour and latest-state rollups land (side by side, on
    connections of their own); the rack rollup is refused. Refused by a view on power_rack_1s (the real engine's
    throwIf, so its own part may be written too) or by a table constraint (a data error,
    which for raw rows would mean "isolate them"). Ingest backs off (a refused rollup is a
    store error: the raw rows are in, so nothing is split or dead-lettered), the operator
    fixes the store, the retry with the same token is deduplicated in gpu_samples,
    gpu_minute and gpu_hour and inserts the rest; a third delivery (a crash before the
    commit) changes nothing."""
    store = new_store(chdb_path)
    migrate(store)
    if refusal == "view":
        store.command("CREATE TABLE flag (on UInt8) ENGINE = Memory")
        store.command("INSERT INTO flag VALUES (1)")
        store.command("CREATE TABLE fragile_t (rack LowCardinality(String)) ENGINE = MergeTree ORDER BY rack"
                      " SETTINGS non_replicated_deduplication_window = 100")  # fmt: skip
        store.command("CREATE MATERIALIZED VIEW fragile TO fragile_t AS SELECT rack FROM power_rack_1s"
                      " WHERE throwIf((SELECT count() FROM flag) > 0, 'rack rollup refused') = 0")  # fmt: skip
        fix = "TRUNCATE TABLE flag"
    else:
        store.command("ALTER TABLE power_rack_1s ADD CONSTRAINT refused CHECK gpus > 1000000000")
        fix = "ALTER TABLE power_rack_1s DROP CONSTRAINT refused"
    _, frames, _, _ = make_fleet(gpus=64, ticks=3)
    frame = GpuFrame.concat(frames)
    seen: list[tuple[int, ...]] = []

    def operator_fixes_the_store() -> None:
        seen.append(counts(store))
        store.command(fix)

    ingest, delivery = ingest_fixed_after_two_retries(store, frame, operator_fixes_the_store)
    assert ingest.stats.dead_letters == 0
    rows = len(frame)
    raw, minute, hour, *_, latest_rows = seen[0]
    assert (raw, minute, hour, latest_rows) == (rows, rows, rows, 64), "the rack rollup failed beside the others"
    assert counts(store) == (rows, rows, rows, rows, rows, rows, 64)
    store.insert_samples(delivery.samples, f"{delivery.token}:samples")  # delivered again after a crash
    assert counts(store) == (rows, rows, rows, rows, rows, rows, 64)
    if refusal == "view":
        assert (
            store.query("SELECT count() FROM fragile_t").rows[0][0] == store.query("SELECT count() FROM power_rack_1s").rows[0][0]
        )


class Flaky:
    """A rollup connection whose first insert into `table` fails: before the store sees it, or
    after the store stored it (the acknowledgement lost), as a dropped connection would."""

    def __init__(self, inner: RawInserter, table: str, lost_ack: bool, failed: list[str]) -> None:
        self.inner, self.table, self.lost_ack, self.failed = inner, table, lost_ack, failed

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        if table == self.table and table not in self.failed:
            self.failed.append(table)
            if self.lost_ack:
                self.inner.raw_insert(table, *args, **kwargs)
            raise OperationalError(f"connection to the store lost during the insert into {table}")
        return self.inner.raw_insert(table, *args, **kwargs)


def test_concurrent_rollup_inserts_that_fail_are_healed_by_the_retry_every_level_once(chdb_path: Path) -> None:
    """Two of the four concurrent rollup inserts fail in one attempt: gpu_minute's before it is
    stored, gpu_latest_state's after (its rows are in, the error says otherwise); the other two
    land beside them. The attempt raises a retryable error; the retry with the same token
    inserts gpu_minute, and the dedup tokens skip every level that landed; a third changes nothing."""
    dsn = f"chdb://{chdb_path}?database=v2_{uuid.uuid4().hex[:10]}"
    failed: list[str] = []
    plan = iter([("gpu_minute", False), ("gpu_hour", False), ("power_rack_1s", False), ("gpu_latest_state", True)])

    def writer() -> RawInserter:
        table, lost_ack = next(plan)
        return Flaky(connect(dsn), table if table in ("gpu_minute", "gpu_latest_state") else "", lost_ack, failed)

    store = ClickHouseStore(connect(dsn), dsn, writers=writer)
    migrate(store)
    _, frames, _, _ = make_fleet(gpus=64, ticks=3)
    frame = GpuFrame.concat(frames)
    rows = len(frame)
    with pytest.raises(TransientError, match="gpu_minute"):  # the first failure in table order
        store.insert_samples(frame, "flaky")
    assert sorted(failed) == ["gpu_latest_state", "gpu_minute"]
    assert counts(store) == (rows, 0, rows, rows, rows, rows, 64), "minute missing, every other level in"
    store.insert_samples(frame, "flaky")
    assert counts(store) == (rows, rows, rows, rows, rows, rows, 64)
    assert store.query("SELECT count() FROM gpu_latest_state").rows[0][0] == 64, "latest state stored once, not twice"
    store.insert_samples(frame, "flaky")
    assert counts(store) == (rows, rows, rows, rows, rows, rows, 64)
    assert (
        store.query("SELECT count() FROM gpu_minute").rows[0][0]
        == store.query("SELECT count() FROM (SELECT DISTINCT uuid, minute FROM gpu_minute)").rows[0][0]
    ), "no minute row stored twice"


def test_a_delivery_above_the_limit_inserts_its_rollups_one_after_another(
    chdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side up to CONCURRENT_ROLLUPS_MAX_ROWS raw rows (no rollup connection is opened
    for a larger delivery); either way every level is stored once."""
    monkeypatch.setattr(storage.clickhouse, "CONCURRENT_ROLLUPS_MAX_ROWS", 100)
    dsn = f"chdb://{chdb_path}?database=v2_{uuid.uuid4().hex[:10]}"
    opened: list[str] = []

    def writer() -> RawInserter:
        opened.append(dsn)
        return connect(dsn)

    store = ClickHouseStore(connect(dsn), dsn, writers=writer)
    migrate(store)
    _, frames, _, _ = make_fleet(gpus=64, ticks=3)
    large = GpuFrame.concat(frames)
    assert len(large) > 100 >= len(frames[0])
    store.insert_samples(large, "large")
    assert opened == []
    rows = len(large)
    assert counts(store) == (rows, rows, rows, rows, rows, rows, 64)
    store.insert_samples(frames[0], "small")
    assert len(opened) == 4
    rows += len(frames[0])
    assert counts(store)[:6] == (rows,) * 6
