"""Ingest's repeat filter (`pipeline.repeats.DropRepeats`) on decoded node messages, and
per-GPU messages from a librdkafka producer through Apache Kafka.

The filter must drop exactly the rows whose `(node, ts, gpu_index)` was remembered within
the window, or came earlier in the same delivery, and nothing else: a randomised run holds
it to a plain-Python model of the same rule, with messages split by GPU as a third-party
producer may send them. The other broker-level tests (same message produced twice, broker
restarted empty) are in test_kafka_pipeline.py and test_kafka_faults.py.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame, node_samples_from_frame
from pipeline.ingest import Ingest
from pipeline.kafka import topics
from pipeline.kafka.decoder import decode_samples
from pipeline.repeats import DropRepeats
from pipeline.transport import Delivery
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet, produce_librdkafka
from tests.unit.test_kafka_decoder import assert_same_frame


def _ticks(gpus: int, ticks: int) -> list[list[bytes]]:
    """Node messages, one list per tick (`gpus / 8` nodes each), recent: the raw table's TTL drops old rows."""
    start_ms = (int(time.time()) - ticks) * 1000
    fleet = SyntheticFleet(n_gpus=gpus, seed=7, scenario=load_scenario("none"), start_ms=start_ms, interval_s=1.0, run_s=600)
    return [[m.model_dump_json().encode() for m in node_samples_from_frame(fleet.tick()[0])] for _ in range(ticks)]


def _frame(messages: list[bytes]) -> GpuFrame:
    frame, refused = decode_samples(messages)
    assert refused == []
    return frame


def _store(repeats: DropRepeats, messages: list[bytes]) -> tuple[GpuFrame, int, int]:
    """drop + remember, as ingest does for a delivery whose write succeeded."""
    frame, dropped = repeats.drop(_frame(messages))
    repeats.remember(dropped.kept)
    return frame, dropped.messages, dropped.rows


def test_a_copy_in_the_same_delivery_is_dropped_and_order_kept() -> None:
    a, b, c = _ticks(gpus=24, ticks=1)[0]
    frame, messages, rows = _store(DropRepeats(), [a, b, a, c, a])
    assert (messages, rows) == (2, 16)
    assert_same_frame(frame, _frame([a, b, c]))


def test_a_copy_in_a_later_delivery_is_dropped_once_stored() -> None:
    first, second = _ticks(gpus=16, ticks=2)
    repeats = DropRepeats()
    _, messages, _ = _store(repeats, first)
    assert messages == 0
    frame, messages, rows = _store(repeats, [first[1], second[0], first[0], second[1]])
    assert (messages, rows) == (2, 16)
    assert_same_frame(frame, _frame(second))
    assert repeats.nodes == 2


def test_nothing_is_remembered_until_the_write_succeeded() -> None:
    """A delivery whose write failed is not in the store: its messages must not count as seen."""
    tick = _ticks(gpus=16, ticks=1)[0]
    repeats = DropRepeats()
    repeats.drop(_frame(tick))  # written? no: ingest shuts down before the store took it
    frame, dropped = repeats.drop(_frame(tick))
    assert dropped.messages == 0 and len(frame) == 16


def test_same_ts_on_another_node_and_an_older_ts_are_kept() -> None:
    ticks = _ticks(gpus=16, ticks=3)
    repeats = DropRepeats()
    _store(repeats, [ticks[2][0]])
    frame, messages, _ = _store(repeats, [ticks[2][1], ticks[0][0], ticks[1][0]])  # late, not repeated
    assert messages == 0 and len(frame) == 24


def test_a_repeat_older_than_the_window_is_stored_again() -> None:
    ticks = _ticks(gpus=8, ticks=6)
    repeats = DropRepeats(window_messages=4)
    for tick in ticks[:5]:
        _store(repeats, tick)
    _, messages, _ = _store(repeats, ticks[1])  # the 4th-last stored: in the window
    assert messages == 1
    _, messages, _ = _store(repeats, ticks[0])  # the 5th-last: out of it, by the stated bound
    assert messages == 0
    _, messages, _ = _store(repeats, [*ticks[5], *ticks[5]])
    assert messages == 1


def test_more_than_a_window_in_one_delivery_keeps_the_newest() -> None:
    ticks = _ticks(gpus=8, ticks=10)
    repeats = DropRepeats(window_messages=3)
    _store(repeats, [m for t in ticks for m in t])
    assert [repeats.drop(_frame(t))[1].messages for t in ticks] == [0] * 7 + [1] * 3


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_messages"):
        DropRepeats(window_messages=0)


def _split(message: bytes, rng: random.Random) -> list[bytes]:
    """The message as a third-party producer might send it: its GPUs in 1-3 messages of the same `(node, ts)`."""
    parsed = json.loads(message)
    gpus = parsed["gpus"]
    cuts = sorted(rng.sample(range(1, len(gpus)), rng.randint(0, 2)))
    return [json.dumps({**parsed, "gpus": gpus[a:b]}).encode() for a, b in zip([0, *cuts], [*cuts, len(gpus)], strict=True)]


class _Model:
    """The rule in plain Python: per node, the last `window` distinct ts stored, each with its GPUs."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.stored: dict[str, dict[int, set[int]]] = defaultdict(dict)  # insertion order = ring order

    def drop(self, delivery: list[bytes]) -> tuple[list[bytes], int, int]:
        """(messages cut to the GPUs kept, messages dropped as `DropRepeats` counts them, rows dropped)."""
        kept: list[bytes] = []
        seen: set[tuple[str, int, int]] = set()
        copies: dict[tuple[str, int, int], int] = defaultdict(int)
        for m in delivery:
            parsed = json.loads(m)
            node, ts = parsed["node"], parsed["ts_ms"]
            new = []
            for gpu in parsed["gpus"]:
                key = (node, ts, gpu["gpu_index"])
                if key in seen or gpu["gpu_index"] in self.stored[node].get(ts, set()):
                    copies[key] += 1
                else:
                    new.append(gpu)
                seen.add(key)
            if new:
                kept.append(json.dumps({**parsed, "gpus": new}).encode())
        per_message: dict[tuple[str, int], int] = defaultdict(int)
        for (node, ts, _), n in copies.items():
            per_message[node, ts] = max(per_message[node, ts], n)
        return kept, sum(per_message.values()), sum(copies.values())

    def remember(self, kept: list[bytes]) -> None:
        gpus: dict[tuple[str, int], set[int]] = defaultdict(set)
        for m in kept:
            parsed = json.loads(m)
            gpus[parsed["node"], parsed["ts_ms"]] |= {g["gpu_index"] for g in parsed["gpus"]}
        new = [(node, ts, indexes) for (node, ts), indexes in sorted(gpus.items()) if ts not in self.stored[node]]
        for (node, ts), indexes in gpus.items():  # a ts it holds gets the new GPUs where it is
            if ts in self.stored[node]:
                self.stored[node][ts] |= indexes
        for node, ts, indexes in new:  # then each new ts, oldest first, replaces the oldest remembered
            ring = self.stored[node]
            ring[ts] = set(indexes)
            if len(ring) > self.window:
                del ring[next(iter(ring))]


@pytest.mark.parametrize("seed", range(4))
def test_random_deliveries_match_a_plain_model(seed: int) -> None:
    """Deliveries of shuffled, repeated, partly split messages from many nodes, some never written."""
    rng = random.Random(seed)
    window = rng.choice([2, 5, 128])
    pool = [part for tick in _ticks(gpus=8 * 40, ticks=12) for m in tick for part in _split(m, rng)]
    repeats, model = DropRepeats(window_messages=window), _Model(window)
    cursor = 0
    for _ in range(60):
        fresh = pool[cursor : cursor + rng.randint(0, 60)]
        cursor += len(fresh)
        delivery = fresh + rng.choices(pool[: max(cursor, 1)], k=rng.randint(0, 20))
        rng.shuffle(delivery)
        expected, messages, rows = model.drop(delivery)
        frame, dropped = repeats.drop(_frame(delivery) if delivery else GpuFrame.empty())
        assert_same_frame(frame, _frame(expected) if expected else GpuFrame.empty())
        assert (dropped.messages, dropped.rows) == (messages, rows)
        if rng.random() < 0.8:  # the write succeeded
            repeats.remember(dropped.kept)
            model.remember(expected)
    assert cursor > 0 and repeats.nodes <= 40


def test_the_usual_delivery_is_returned_as_is() -> None:
    """No repeats: the same frame object comes back (no copy on the hot path)."""
    first, second = _ticks(gpus=64, ticks=2)
    repeats = DropRepeats()
    _store(repeats, first)
    frame = _frame(second)
    kept, dropped = repeats.drop(frame)
    assert kept is frame and dropped.messages == 0
    assert np.array_equal(np.sort(dropped.kept.ts_ms), np.sort(np.unique(frame.ts_ms)).repeat(8))


class _Deliveries:
    """A `Subscription` handing out prepared deliveries once each (the range logic is tested
    against Apache Kafka elsewhere; here only what ingest does with a repeated token or message)."""

    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        self.committed: list[str] = []

    def poll(self, timeout_s: float) -> Delivery | None:
        return self.deliveries.pop(0) if self.deliveries else None

    def commit(self, delivery: Delivery) -> None:
        self.committed.append(delivery.token)

    def close(self) -> None:
        pass


def test_ingest_stores_a_repeat_once_and_counts_only_producer_repeats(store: ClickHouseStore) -> None:
    first, second = (m for m in _ticks(gpus=16, ticks=2))
    fresh = _Deliveries(
        [
            Delivery(_frame(first), token="t:0-1", messages=2),
            Delivery(_frame(first), token="t:0-1", messages=2),  # the same range again: commit failed
            Delivery(_frame([*second, first[0]]), token="t:2-4", messages=3),  # a copy at another offset
        ]
    )
    ingest = Ingest(fresh, store)
    while ingest.step() is not None:
        pass
    assert fresh.committed == ["t:0-1", "t:0-1", "t:2-4"]
    assert (ingest.stats.rows, ingest.stats.duplicate_messages, ingest.stats.duplicate_rows) == (32, 1, 8)
    assert store.query("SELECT count(), uniqExact(node, gpu_index, ts) FROM gpu_samples").rows == [(32, 32)]


def _by_gpu(message: bytes, gpus: slice = slice(None)) -> list[bytes]:
    """One message per GPU (`gpus` of them), same node and ts: what a third-party producer may send."""
    parsed = json.loads(message)
    return [json.dumps({**parsed, "gpus": [gpu]}).encode() for gpu in parsed["gpus"][gpus]]


def test_per_gpu_messages_from_a_librdkafka_producer_are_all_stored_once(kafka1: KafkaCluster, tmp_path: Path) -> None:
    """4 nodes x 6 ticks, each tick sent by librdkafka as 8 messages of one GPU (same node and
    ts), read in deliveries of 3 messages, so every `(node, ts)` spans deliveries: the
    `(node, ts)` filter dropped every GPU after the first delivery's as a repeat. Then a
    whole-node message of which 4 GPUs were stored (its other 4 are new), and a re-send of
    tick 0's 32 messages (all stored): each of the 192 rows is stored once, 36 dropped."""
    ticks = _ticks(gpus=32, ticks=6)
    partial = ticks[5][0]  # node 0, last tick: GPUs 0-3 by GPU, then all 8 in one message
    sent = [part for tick in ticks for m in tick for part in _by_gpu(m, slice(0, 4) if m is partial else slice(None))]
    sent += [partial, *(part for m in ticks[0] for part in _by_gpu(m))]
    produce_librdkafka(kafka1.bootstrap, topics.SAMPLES, [(json.loads(m)["node"].encode(), m) for m in sent])
    data = tmp_path / "data"
    ingest = gpufleet("ingest", "--store", f"chdb://{data}", "--exit-when-idle", "4", "--max-wait", "0.3",
                      "--max-batch-messages", "3", "--stats-interval", "0", env=cli_env(kafka1), cwd=tmp_path)  # fmt: skip
    assert ingest.wait(240) == 0, ingest.stderr()[-3000:]
    stats = json.loads([line for line in ingest.stderr().splitlines() if '"msg": "stats"' in line][-1])
    query = "SELECT count() AS n, uniqExact(node, gpu_index, ts) AS u FROM gpu_samples"
    rows = json.loads(run_cli("sql", "--store", f"chdb://{data}", "--format", "json", query).stdout)
    assert rows == [{"n": 4 * 6 * 8, "u": 4 * 6 * 8}], rows
    assert stats["messages"] == len(sent) == 4 * 6 * 8 - 4 + 1 + 32 and stats["duplicate_rows"] == 4 + 32, stats
