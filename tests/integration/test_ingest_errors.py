"""Store errors sorted into retry and bad data, on the real engine (chDB) through
`pipeline.ingest` and the in-process transport: nothing on the data path stops ingest."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.times import TimeWindow
from pipeline.ingest import Backoff, Ingest
from pipeline.memory import MemoryBroker
from pipeline.transport import Delivery
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate

DAY_MS = 86_400_000
FAST = Backoff(first_s=0.01, max_s=0.05)


def tick(gpus: int = 8, seed: int = 3, start_ms: int | None = None) -> GpuFrame:
    start = int(time.time()) * 1000 - 10_000 if start_ms is None else start_ms
    return SyntheticFleet(gpus, seed, load_scenario("none"), start, 1.0, 60).tick()[0]


def count(store: ClickHouseStore, sql: str) -> int:
    return int(store.query(sql).rows[0][0])


def rollups_hold_each_row_once(store: ClickHouseStore) -> None:
    raw = count(store, "SELECT count() FROM gpu_samples")
    assert count(store, "SELECT sum(samples) FROM gpu_minute") == raw
    assert count(store, "SELECT sum(samples) FROM gpu_hour") == raw
    assert count(store, "SELECT sum(gpus) FROM power_fleet_1s") == raw


def test_the_write_thread_stores_every_delivery_once_and_in_order(store: ClickHouseStore) -> None:
    """`overlap=True`: each delivery is written on the write thread while the next is polled;
    deliveries are committed in the order they were polled, each after its own write, and
    every row lands once at every rollup level."""

    polled: list[str] = []
    committed: list[str] = []

    class Recorded(MemoryBroker):
        def poll(self, timeout_s: float) -> Delivery | None:
            delivery = super().poll(timeout_s)
            if delivery is not None:
                polled.append(delivery.token)
            return delivery

        def commit(self, delivery: Delivery) -> None:
            committed.append(delivery.token)
            super().commit(delivery)

    broker = Recorded(max_batch_rows=64)  # one frame per delivery
    now_ms = int(time.time()) * 1000
    for i in range(6):
        broker.publish_samples(tick(gpus=64, seed=20 + i, start_ms=now_ms - (30 - i) * 1000))
    ingest = Ingest(broker, store, FAST, overlap=True)
    stats = ingest.run(until_idle_s=0.5)
    ingest.close()
    assert broker.backlog == 0 and committed == polled and len(committed) == 6
    assert count(store, "SELECT count() FROM gpu_samples") == 6 * 64 == stats.rows
    rollups_hold_each_row_once(store)


def test_a_delivery_polled_ahead_is_dropped_when_a_rebalance_during_the_retry_moved_its_partition(
    store: ClickHouseStore,
) -> None:
    """`overlap=True`: delivery A's write fails while B is polled ahead; during A's retry a
    rebalance (here: `keepalive`) moves both partitions to another member. Ingest gives A up and
    must not write B either: the new owner writes both ranges. The deliveries after them land."""
    from gpufleet.contract.errors import TransientError

    polled: list[str] = []
    written: list[str] = []
    moved: set[str] = set()

    class Moving(MemoryBroker):
        def poll(self, timeout_s: float) -> Delivery | None:
            delivery = super().poll(timeout_s)
            if delivery is not None:
                polled.append(delivery.token)
            return delivery

        def owns(self, delivery: Delivery) -> bool:
            return delivery.token not in moved

        def keepalive(self, timeout_s: float) -> None:  # the rebalance, while ingest backs off
            moved.update(polled[:2])
            time.sleep(min(timeout_s, 0.01))

    class FailsFirst:
        def __init__(self, inner: ClickHouseStore) -> None:
            self.inner = inner

        def insert_samples(self, frame: GpuFrame, dedup_token: str) -> int:
            written.append(dedup_token)
            if len(written) == 1:  # A: fails once B has been polled ahead
                deadline = time.monotonic() + 10
                while len(polled) < 2 and time.monotonic() < deadline:
                    time.sleep(0.005)
                raise TransientError("store busy (test)")
            return self.inner.insert_samples(frame, dedup_token)

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    broker = Moving(max_batch_rows=64)  # one frame per delivery
    now_ms = int(time.time()) * 1000
    for i in range(4):
        broker.publish_samples(tick(gpus=64, seed=40 + i, start_ms=now_ms - (30 - i) * 1000))
    ingest = Ingest(broker, FailsFirst(store), FAST, overlap=True)  # type: ignore[arg-type]
    stats = ingest.run(until_idle_s=0.5)
    ingest.close()
    first, ahead = polled[0], polled[1]
    assert f"{ahead}:samples" not in written, "the delivery polled ahead was written after its partition moved"
    assert written.count(f"{first}:samples") == 1, "the moved delivery was retried"
    assert stats.rows == 2 * 64 == count(store, "SELECT count() FROM gpu_samples")
    rollups_hold_each_row_once(store)


def test_more_partitions_than_one_insert_may_touch_are_stored_by_splitting(store: ClickHouseStore) -> None:
    """101 node messages on 101 different days (a node whose clock jumped, inside a long TTL)
    and 20 valid ones behind them: ClickHouse refuses the block (Code 252, "Too many
    partitions for single INSERT block"); split, every part is accepted and all rows land."""
    migrate(store, raw_ttl_days=200, minute_ttl_days=200)
    broker = MemoryBroker(window=TimeWindow.of(200, 300))
    base = tick(start_ms=int(time.time()) * 1000 - 150 * DAY_MS)
    broker.publish_samples(GpuFrame.concat([dataclasses.replace(base, ts_ms=base.ts_ms + d * DAY_MS) for d in range(101)]))
    for i in range(20):
        broker.publish_samples(tick(seed=10 + i, start_ms=int(time.time()) * 1000 - (30 - i) * 1000))
    ingest = Ingest(broker, store, FAST)
    stats = ingest.run(until_idle_s=0.5)
    assert broker.backlog == 0, "everything committed"
    assert count(store, "SELECT count() FROM gpu_samples") == 121 * 8 == stats.rows
    assert count(store, "SELECT uniqExact(toDate(ts)) FROM gpu_samples") >= 101
    assert stats.store_refused == 0 and stats.store_retries == 0
    rollups_hold_each_row_once(store)


def marked(gpus: int = 400, node: int = 7, seed: int = 3) -> tuple[GpuFrame, str]:
    """50 node messages of 8 GPUs; one GPU of node `node` has the marker power 123456 mW."""
    frame = tick(gpus=gpus, seed=seed)
    rows = np.flatnonzero(frame.labels["node"].codes == node)
    frame.metrics["power_mw"] = frame.metrics["power_mw"].copy()
    frame.metrics["power_mw"][rows[3]] = 123456
    return frame, frame.labels["node"].values[node]


def test_rows_the_store_refuses_are_isolated_dead_lettered_and_the_rest_stored(store: ClickHouseStore) -> None:
    """A table constraint that refuses one marked value (the real engine, Code 469): the node
    message carrying it is dead-lettered with the server's reason, the other 49 land, every
    rollup counts them once, and the delivery is committed."""
    store.command("ALTER TABLE gpu_samples ADD CONSTRAINT no_marker CHECK power_mw != 123456")
    frame, marked_node = marked()
    broker = MemoryBroker()
    broker.publish_samples(frame)
    stats = Ingest(broker, store, FAST).run(until_idle_s=0.5)
    assert broker.backlog == 0
    assert count(store, "SELECT count() FROM gpu_samples") == 392 == stats.rows
    assert count(store, f"SELECT count() FROM gpu_samples WHERE node = '{marked_node}'") == 0
    letters = store.query("SELECT node, reason, payload FROM dead_letters").rows
    assert len(letters) == 1 and stats.store_refused == 1 and stats.store_retries == 0
    node, reason, payload = letters[0]
    assert node == marked_node and reason.startswith("store refused: Code: 469") and "no_marker" in reason
    assert '"power_mw":123456' in payload and f'"node":"{marked_node}"' in payload
    rollups_hold_each_row_once(store)


@pytest.mark.parametrize("overlap", [False, True], ids=["serial", "write-thread"])
def test_a_retryable_server_error_backs_off_and_commits_nothing_until_it_clears(store: ClickHouseStore, overlap: bool) -> None:
    """A real retryable error: merges stopped and `parts_to_throw_insert` reached make the
    engine answer Code 252 "Too many parts" (the retryable meaning of the shared code).
    Ingest backs off and commits nothing; once it clears, every row lands once. With the
    write thread (`gpufleet ingest`'s loop) its failed attempt is retried on the ingest thread,
    the same number of times."""

    class Watched(MemoryBroker):
        """Ingest calls `keepalive` while it backs off: after the third failed write this clears
        the fault, from the ingest thread itself (chDB: one caller at a time)."""

        cleared = False

        def keepalive(self, timeout_s: float) -> None:
            if not self.cleared and ingest.stats.store_retries >= 3:
                self.cleared = True
                assert count(store, "SELECT count() FROM gpu_samples") == 8 and self.backlog == 1, "nothing committed"
                store.command("ALTER TABLE gpu_samples MODIFY SETTING parts_to_throw_insert = 3000")
                store.command("SYSTEM START MERGES gpu_samples")
            time.sleep(min(timeout_s, 0.01))

    broker = Watched()
    ingest = Ingest(broker, store, FAST, overlap=overlap)
    broker.publish_samples(tick(seed=1, start_ms=int(time.time()) * 1000 - 20_000))
    assert ingest.step() is not None
    store.command("SYSTEM STOP MERGES gpu_samples")
    store.command(
        "ALTER TABLE gpu_samples MODIFY SETTING parts_to_throw_insert = 1, parts_to_delay_insert = 1, max_delay_to_insert = 0"
    )
    broker.publish_samples(tick(seed=2))
    assert ingest.step() is not None  # returns only once stored
    assert broker.cleared and ingest.stats.store_retries == 3
    assert broker.backlog == 0 and count(store, "SELECT count() FROM gpu_samples") == 16
    rollups_hold_each_row_once(store)
    ingest.close()


def test_timestamps_outside_the_window_and_empty_messages_are_dead_lettered(store: ClickHouseStore) -> None:
    """ts 0 (would be counted as stored, then dropped by the TTL), 2**62 (the year 9999, its
    own partition forever), a day ahead, a month old: each dead-lettered with the reason."""
    now = int(time.time()) * 1000
    broker = MemoryBroker(window=TimeWindow.of(14, 300))
    good = tick(seed=1)
    bad = [
        dataclasses.replace(tick(seed=2 + i), ts_ms=np.full(8, ts, dtype=np.int64))
        for i, ts in enumerate((0, 2**62, now + DAY_MS, now - 30 * DAY_MS))
    ]
    for frame in (*bad, good):
        broker.publish_samples(frame)
    stats = Ingest(broker, store, FAST).run(until_idle_s=0.5)
    assert count(store, "SELECT count() FROM gpu_samples") == 8 == stats.rows
    reasons = sorted(r[0] for r in store.query("SELECT reason FROM dead_letters").rows)
    assert len(reasons) == 4 == stats.dead_letters
    assert all(r.startswith("out of time window: ts_ms ") for r in reasons)
    assert sum("in the future" in r for r in reasons) == 2 and sum("beyond the raw TTL" in r for r in reasons) == 2
    partitions = "SELECT groupArray(partition) FROM system.parts WHERE database = currentDatabase() AND table = 'gpu_samples'"
    assert all(p < "2100" for p in store.query(partitions).rows[0][0]), "no far-future partition"
