"""Poison data through Apache Kafka and `gpufleet ingest`: a node with a broken clock, the
server refusing a block, and >= 10,000 generated hostile messages amid valid traffic.
Nothing stops ingest; every valid row lands; every bad message is dead-lettered with a reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import node_samples_from_frame
from pipeline.kafka import topics
from tests.support.cli import run_cli
from tests.support.fuzz import hostile_node_messages
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet, produce, produce_librdkafka, read_topic

DAY_MS = 86_400_000


def valid_messages(nodes: int, ticks: int, seed: int = 5) -> list[tuple[bytes, bytes]]:
    start_ms = int(time.time()) * 1000 - ticks * 1000
    fleet = SyntheticFleet(
        n_gpus=8 * nodes, seed=seed, scenario=load_scenario("none"), start_ms=start_ms, interval_s=1, run_s=ticks + 5
    )
    return [
        (m.node.encode(), m.model_dump_json().encode()) for _ in range(ticks) for m in node_samples_from_frame(fleet.tick()[0])
    ]


def broken_clock(days: int) -> list[tuple[bytes, bytes]]:
    """One node's messages, each on another future day (a clock that jumped and keeps jumping)."""
    _, value = valid_messages(1, 1, seed=9)[0]
    message = json.loads(value)
    message["node"] = "node-broken"
    now = int(time.time()) * 1000
    return [(b"node-broken", json.dumps({**message, "ts_ms": now + (d + 1) * DAY_MS, "seq": d}).encode()) for d in range(days)]


def broken_clock_then_valid() -> list[tuple[bytes, bytes]]:
    """The issue's batch: 101 messages on 101 future days, then 20 valid ones (4 nodes x 5
    ticks, 160 GPU rows), all under one key, so in one partition and one delivery."""
    return [(b"one-partition", v) for _, v in broken_clock(101) + valid_messages(4, 5)]


def query(data: Path, sql: str) -> list[dict[str, object]]:
    proc = run_cli("sql", "--store", f"chdb://{data}", "--format", "json", sql)
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def ingest_until_idle(kafka: KafkaCluster, tmp_path: Path, data: Path, **env: str) -> str:
    proc = gpufleet("ingest", "--store", f"chdb://{data}", "--exit-when-idle", "4", "--max-wait", "0.3", "--stats-interval", "0",
                    env=cli_env(kafka, **env), cwd=tmp_path)  # fmt: skip
    assert proc.wait(240) == 0, proc.stderr()[-3000:]
    return proc.stderr()


def test_a_node_with_a_broken_clock_is_dead_lettered_and_the_rows_behind_it_land(kafka1: KafkaCluster, tmp_path: Path) -> None:
    """101 messages on 101 future days, then 20 valid ones, in one partition, produced with
    librdkafka as in the issue: before, ingest exited with Code 252 and restarted into the
    same batch, storing none of the 160 rows."""
    produce_librdkafka(kafka1.bootstrap, topics.SAMPLES, broken_clock_then_valid())
    data = tmp_path / "data"
    ingest_until_idle(kafka1, tmp_path, data)
    assert query(data, "SELECT count() AS n, uniqExact(node, gpu_index, ts) AS u FROM gpu_samples") == [{"n": 160, "u": 160}]
    letters = query(data, "SELECT node, reason FROM dead_letters")
    assert len(letters) == 101 and {r["node"] for r in letters} == {"one-partition"}  # the record key
    assert all(str(r["reason"]).startswith("out of time window: ts_ms ") and "in the future" in str(r["reason"]) for r in letters)
    assert len(read_topic(kafka1.bootstrap, topics.DEADLETTER)) == 101


def test_a_block_the_server_refuses_is_split_until_it_is_accepted(kafka1: KafkaCluster, tmp_path: Path) -> None:
    """The same batch with the clock window opened wide (GPUFLEET_MAX_CLOCK_AHEAD_S): the rows
    reach ClickHouse, which refuses 101 daily partitions in one block (Code 252, "Too many
    partitions for single INSERT block"); ingest splits the block and every row lands
    (produced with librdkafka too)."""
    produce_librdkafka(kafka1.bootstrap, topics.SAMPLES, broken_clock_then_valid())
    data = tmp_path / "data"
    ingest_until_idle(kafka1, tmp_path, data, GPUFLEET_MAX_CLOCK_AHEAD_S=str(200 * 86_400))
    assert query(data, "SELECT count() AS n, uniqExact(toDate(ts)) >= 102 AS days FROM gpu_samples") == [
        {"n": 101 * 8 + 160, "days": 1}
    ]
    assert query(data, "SELECT count() AS n FROM dead_letters") == [{"n": 0}]
    assert query(data, "SELECT sum(samples) AS n FROM gpu_minute") == [{"n": 101 * 8 + 160}]


def test_generated_hostile_messages_are_all_dead_lettered_and_every_valid_one_stored(
    kafka1: KafkaCluster, tmp_path: Path
) -> None:
    """>= 10,000 malformed or hostile node messages from hypothesis (broken JSON, wrong types,
    values out of range, broken cross-field rules, wrong schema, timestamps out of the
    window, empty and oversized messages, deep nesting), shuffled among 2,000 valid ones
    across the sample partitions: one ingest process, alive to the end."""
    hostile = hostile_node_messages(10_000, seed=14)
    valid = valid_messages(nodes=100, ticks=20)
    mixed: list[tuple[bytes, bytes]] = []
    step = len(hostile) // len(valid)
    for i, message in enumerate(valid):
        mixed += [message, *((f"h{j % 97}".encode(), hostile[j]) for j in range(i * step, (i + 1) * step))]
    mixed += [(b"h", h) for h in hostile[len(valid) * step :]]
    produce(kafka1.bootstrap, topics.SAMPLES, mixed)
    data = tmp_path / "data"
    stderr = ingest_until_idle(kafka1, tmp_path, data)
    stats = json.loads([line for line in stderr.splitlines() if '"msg": "stats"' in line][-1])
    rows = query(data, "SELECT count() AS n, uniqExact(node, gpu_index, ts) AS u FROM gpu_samples")
    assert rows == [{"n": len(valid) * 8, "u": len(valid) * 8}], "every valid message stored, once"
    letters = query(data, "SELECT count() AS n, countIf(reason = '') AS no_reason FROM dead_letters")
    assert letters == [{"n": len(hostile), "no_reason": 0}], "every hostile message dead-lettered, with a reason"
    assert stats["messages"] == len(mixed) and stats["dead_letters"] == len(hostile)
    kinds = query(
        data, "SELECT splitByChar(' ', reason)[1] AS kind, count() AS n FROM dead_letters GROUP BY kind ORDER BY n DESC"
    )
    print("fuzz:", len(hostile), "hostile,", len(valid), "valid;", {str(k["kind"]): k["n"] for k in kinds})
