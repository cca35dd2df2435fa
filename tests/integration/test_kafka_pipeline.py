"""Kafka → ClickHouse against Apache Kafka (one broker): round trip, dead letters, repeats, shutdown, a group of two.

Commands run as users run them (`gpufleet emit`, `gpufleet ingest`, fresh processes with
their own chDB paths); the dead-letter test runs the subscription in this process so it can
look at the shared test store directly.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import node_samples_from_frame
from pipeline.ingest import Ingest
from pipeline.kafka import topics
from pipeline.kafka.service import IngestService, ServiceOptions
from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli
from tests.support.kafka_helpers import (
    KafkaCluster,
    Proc,
    cli_env,
    committed,
    free_port,
    gpufleet,
    kafka_settings,
    produce,
    read_topic,
)


def stored_keys(data: Path) -> list[tuple[str, int, int]]:
    """(node, gpu_index, ts_ms) of every stored sample row, read by `gpufleet sql` in its own process."""
    proc = run_cli(
        "sql",
        "--store",
        f"chdb://{data}",
        "--format",
        "json",
        "SELECT node, gpu_index, toUnixTimestamp64Milli(ts) AS t FROM gpu_samples",
    )
    assert proc.returncode == 0, proc.stderr
    return [(r["node"], int(r["gpu_index"]), int(r["t"])) for r in json.loads(proc.stdout)]


def emit_summary(proc: Proc) -> dict[str, int]:
    summary: dict[str, int] = json.loads(proc.stdout().strip().splitlines()[-1])
    return summary


def test_round_trip_emit_ingest_exact_counts(kafka1: KafkaCluster, tmp_path: Path) -> None:
    env = cli_env(kafka1)
    ingest = gpufleet(
        "ingest",
        "--store",
        f"chdb://{tmp_path / 'data'}",
        "--exit-when-idle",
        "5",
        "--stats-interval",
        "1",
        env=env,
        cwd=tmp_path,
    )
    emit = gpufleet(
        "emit", "--gpus", "64", "--interval", "0.2", "--duration", "4", "--stats-interval", "0", env=env, cwd=tmp_path
    )
    assert emit.wait(60) == 0
    summary = emit_summary(emit)
    assert summary["sampled_rows"] == 64 * 20 and summary["sent_rows"] == 64 * 20 and summary["dropped_rows"] == 0
    assert ingest.wait(90) == 0, ingest.stderr()
    keys = stored_keys(tmp_path / "data")
    assert len(keys) == 64 * 20 and len(set(keys)) == len(keys)
    inventory = run_cli(
        "sql", "--store", f"chdb://{tmp_path / 'data'}", "--format", "json", "SELECT count() AS n FROM gpu_inventory"
    )
    assert json.loads(inventory.stdout)[0]["n"] == 64


def _valid_messages(gpus: int, ticks: int) -> list[tuple[bytes, bytes]]:
    # Timestamps near now: the raw table's TTL drops rows older than its retention at insert.
    start_ms = int(time.time()) * 1000 - ticks * 1000
    fleet = SyntheticFleet(n_gpus=gpus, seed=5, scenario=load_scenario("none"), start_ms=start_ms, interval_s=1, run_s=600)
    return [
        (m.node.encode(), m.model_dump_json().encode()) for _ in range(ticks) for m in node_samples_from_frame(fleet.tick()[0])
    ]


def test_dead_letters_carry_reason_and_source_and_the_rest_lands(kafka1: KafkaCluster, store: ClickHouseStore) -> None:
    valid = _valid_messages(gpus=32, ticks=5)  # 20 messages, 160 rows
    node0 = json.loads(valid[0][1])
    hot = {**node0, "gpus": [{**node0["gpus"][0], "gpu_temp_c": 900}]}
    bad = [
        (b"node-x", b'{"schema": "gpufleet.node_sample/1", "cluster": '),
        (b"node-y", valid[1][1].replace(b"node_sample/2", b"node_sample/9")),
        (b"node-z", json.dumps(hot).encode()),
        (b"node-w", valid[2][1] + b" " * (300 * 1024)),
    ]
    mixed = valid[:10] + bad[:2] + valid[10:] + bad[2:]
    produce(kafka1.bootstrap, topics.SAMPLES, [(b"same-partition", v) for _, v in mixed])
    produce(kafka1.bootstrap, topics.EVENTS, [(b"n", b'{"schema": "gpufleet.gpu_event/1", "kind": "xid"}')])
    reading = {"schema": "gpufleet.facility_sample/1", "ts_ms": int(time.time() * 1000), "site": "memphis", "hall": "h1",
               "rack": "r1", "sensor": "cdu_supply_temp_c", "value": 31.5}  # fmt: skip
    produce(
        kafka1.bootstrap,
        topics.FACILITY,
        [(b"s", json.dumps(reading).encode()), (b"s", json.dumps({**reading, "value": 400}).encode())],
    )
    sub = KafkaSubscription(kafka_settings(), kafka1.bootstrap, SubscriptionConfig(group="dl", max_wait_s=0.2))
    ingest = Ingest(sub, store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ingest.stats.messages < len(mixed) + 3:
        ingest.step(0.5)
    sub.close()
    assert store.query("SELECT count(), uniqExact(node, gpu_index, ts) FROM gpu_samples").rows == [(160, 160)]
    letters = read_topic(kafka1.bootstrap, topics.DEADLETTER)
    assert len(letters) == 6
    headers = [dict(r.headers) for r in letters]
    by_offset = {
        int(h["gpufleet.source_offset"]): h["gpufleet.reason"].decode()
        for h in headers
        if h["gpufleet.source_topic"] == topics.SAMPLES.encode()
    }
    assert sorted(by_offset) == [10, 11, 22, 23]  # where the bad ones were produced, in one partition
    assert by_offset[10].startswith("malformed JSON") and by_offset[11].startswith("unknown schema")
    assert "gpu_temp_c" in by_offset[22] and by_offset[23].startswith("oversized")
    event = next(h for h in headers if h["gpufleet.source_topic"] == topics.EVENTS.encode())
    assert b"xid" in event["gpufleet.reason"] or b"cluster" in event["gpufleet.reason"]
    assert all(h["gpufleet.source_topic_id"] not in (b"", b"unknown") for h in headers)
    facility = next(h for h in headers if h["gpufleet.source_topic"] == topics.FACILITY.encode())
    assert b"cdu_supply_temp_c" in facility["gpufleet.reason"]
    assert store.query("SELECT count() FROM facility_readings").rows == [(1,)]
    assert store.query("SELECT count() FROM dead_letters").rows == [(6,)]


def test_a_node_message_produced_twice_is_stored_once_and_counted(kafka1: KafkaCluster, store: ClickHouseStore) -> None:
    """Copies at other offsets (a producer re-send) carry other range tokens: ingest drops them by (node, ts)."""
    messages = _valid_messages(gpus=16, ticks=3)  # 2 nodes x 3 ticks: 6 messages, 48 rows
    produce(kafka1.bootstrap, topics.SAMPLES, [*messages, messages[0]])  # a copy in the same batch, most likely
    sub = KafkaSubscription(kafka_settings(), kafka1.bootstrap, SubscriptionConfig(group="repeats", max_wait_s=0.2))
    service = IngestService(sub, store, ServiceOptions(stats_interval_s=0))
    worker = threading.Thread(target=service.run, daemon=True)
    worker.start()
    stats = service.ingest.stats
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and stats.messages < 7:
            time.sleep(0.1)
        assert stats.rows == 48, stats
        produce(kafka1.bootstrap, topics.SAMPLES, [messages[5], messages[2]])  # copies in a later batch
        while time.monotonic() < deadline and stats.messages < 9:
            time.sleep(0.1)
    finally:
        service.stop()
        worker.join(timeout=30)
        sub.close()
    assert store.query("SELECT count(), uniqExact(node, gpu_index, ts) FROM gpu_samples").rows == [(48, 48)]
    assert (stats.messages, stats.rows, stats.duplicate_messages, stats.duplicate_rows) == (9, 48, 3, 24)
    assert service.registry.get_sample_value("gpufleet_ingest_duplicate_messages_total") == 3
    assert service.registry.get_sample_value("gpufleet_ingest_duplicate_rows_total") == 24
    assert service._line()["duplicate_messages"] == 3
    ends: dict[int, int] = {}
    for r in read_topic(kafka1.bootstrap, topics.SAMPLES):
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    assert sum(ends.values()) == 9  # every copy really is in the log, at its own offset
    assert {p: o for p, o in committed(kafka1.bootstrap, "repeats", topics.SAMPLES, 4).items() if p in ends} == ends


def test_sigterm_writes_gathered_batches_commits_and_exits_zero(kafka1: KafkaCluster, tmp_path: Path) -> None:
    produce(kafka1.bootstrap, topics.SAMPLES, _valid_messages(gpus=64, ticks=5))  # 40 messages, 320 rows
    port = free_port()
    env = cli_env(kafka1)
    # --max-wait 600: batches are gathered but never cut by time, so only the shutdown drain writes them.
    args = ("--store", f"chdb://{tmp_path / 'data'}", "--max-wait", "600", "--metrics-port", str(port), "--group", "term")
    ingest = gpufleet("ingest", *args, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 45
    gathered = 0.0
    while time.monotonic() < deadline and gathered < 40:
        time.sleep(0.3)
        try:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            continue
        gathered = sum(
            float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("gpufleet_ingest_gathered_messages")
        )
    assert gathered == 40, "ingest did not gather the messages"
    state = _state_on_sigusr1(ingest)  # where each partition stands, and the process carries on
    samples = {name: held for name, held in state["gathered"].items() if name.startswith(topics.SAMPLES)}
    assert sum(records for records, _end in samples.values()) == 40 and not state["in_flight"], state
    assert set(samples) <= set(state["assigned"]) and set(state["assigned"]) <= set(state["kafka_python"]["partitions"])
    assert all(not p["pending_revocation"] for p in state["kafka_python"]["partitions"].values()), state
    ingest.popen.send_signal(signal.SIGTERM)
    assert ingest.wait(30) == 0, ingest.stderr()
    keys = stored_keys(tmp_path / "data")
    assert len(keys) == 320 and len(set(keys)) == 320
    ends: dict[int, int] = {}
    for r in read_topic(kafka1.bootstrap, topics.SAMPLES):
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    offsets = committed(kafka1.bootstrap, "term", topics.SAMPLES, 4)
    assert {p: o for p, o in offsets.items() if p in ends} == ends


def _state_on_sigusr1(proc: Proc, timeout_s: float = 10.0) -> dict[str, Any]:
    """The "consumer state" line `gpufleet ingest` logs after its stacks on SIGUSR1."""
    before = len(proc.stderr())
    proc.popen.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in proc.stderr()[before:].splitlines():
            if line.startswith("{") and json.loads(line).get("msg") == "consumer state":
                state: dict[str, Any] = json.loads(line)["state"]
                return state
        time.sleep(0.1)
    raise AssertionError(f"no consumer state logged on SIGUSR1: {proc.stderr()[before:][-2000:]}")


def test_two_ingest_processes_in_one_group_share_without_duplicates(kafka1: KafkaCluster, tmp_path: Path) -> None:
    env = cli_env(kafka1)
    common = ("--exit-when-idle", "8", "--group", "pair", "--max-wait", "0.2", "--stats-interval", "0")
    first = gpufleet("ingest", "--store", f"chdb://{tmp_path / 'a'}", *common, env=env, cwd=tmp_path)
    second = gpufleet("ingest", "--store", f"chdb://{tmp_path / 'b'}", *common, env=env, cwd=tmp_path)
    # both join before the data arrives, so the group is settled on two members (chDB start + join: seconds)
    assert _wait_until(lambda: _stable_members(kafka1.bootstrap, "pair") == 2, 90), "the group never had both members"
    emit = gpufleet(
        "emit", "--gpus", "128", "--interval", "0.2", "--duration", "6", "--stats-interval", "0", env=env, cwd=tmp_path
    )
    assert emit.wait(60) == 0
    assert first.wait(90) == 0 and second.wait(90) == 0
    a, b = stored_keys(tmp_path / "a"), stored_keys(tmp_path / "b")
    assert len(a) + len(b) == 128 * 30
    assert len(set(a) | set(b)) == 128 * 30
    assert a and b, "one member got no partitions"


def _stable_members(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
        return len(described["members"]) if described["group_state"] == "Stable" else 0
    except Exception:  # the group does not exist yet
        return 0
    finally:
        admin.close()


def _wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_collect_publishes_to_kafka_and_reports(kafka1: KafkaCluster, tmp_path: Path) -> None:
    proc = run_cli(
        "collect", "--source", "synthetic", "--gpus", "8", "--interval", "0.5", "--duration", "2",
        "--kafka", kafka1.bootstrap, "--stats-interval", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["sent_rows"] == summary["sampled_rows"] == 8 * 4 and summary["undelivered_messages"] == 0
    values = [json.loads(r.value) for r in read_topic(kafka1.bootstrap, topics.SAMPLES)]
    assert len(values) == 4 and {v["seq"] for v in values} == {0, 1, 2, 3}
    assert len(read_topic(kafka1.bootstrap, topics.INVENTORY)) == 8


def test_topics_create_refuses_more_replicas_than_brokers_in_one_line(kafka1: KafkaCluster) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka1.bootstrap)
    admin.delete_topics([topics.SAMPLES], timeout_ms=15_000)
    admin.close()
    env = {**cli_env(kafka1), "GPUFLEET_KAFKA__REPLICATION_FACTOR": "3", "GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS": "2"}
    proc = run_cli("kafka", "topics", "--create", env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPUFLEET_KAFKA__REPLICATION_FACTOR=3" in lines[0] and "1 broker" in lines[0], lines
    ok = run_cli("kafka", "topics", "--create", env=cli_env(kafka1))  # RF 1, min ISR 1 on one broker
    assert ok.returncode == 0 and f"{topics.SAMPLES}\tcreated" in ok.stdout and "min.insync.replicas=1" in ok.stdout, ok.stderr
