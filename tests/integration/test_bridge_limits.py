"""The MQTT bridge exact under retries and bounded everywhere: one token per batch across
retries, dead letters capped on every path, a retry loop with a bound, and a 1.5 MiB
payload in `--kafka` mode that is dead-lettered (cut) while the readings after it land."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from collectors.facility.bridge import MAX_REJECTED_BYTES, OTHER_ATTEMPTS, STOP_ATTEMPTS, BridgeStats, Rejected, write_batch
from gpufleet.app.commands.bridge import StoreSink
from gpufleet.contract.errors import StoreError, TransientError
from gpufleet.contract.schema import FacilitySample
from pipeline.kafka import topics
from storage.base import DeadLetter
from storage.clickhouse import ClickHouseStore
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet, read_topic
from tests.support.mosquitto import Mosquitto

NOW_MS = int(time.time() * 1000)


def readings(n: int) -> list[FacilitySample]:
    return [
        FacilitySample(ts_ms=NOW_MS - i, site="s", hall="h", rack=f"r{i}", sensor="pdu_power_w", value=float(i)) for i in range(n)
    ]


def count(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {table}").rows[0][0])


def test_a_retry_after_the_readings_landed_and_the_dead_letters_did_not_stores_each_once(store: ClickHouseStore) -> None:
    """A real retryable error on the second insert of a batch: dead_letters refuses with Code
    252 "Too many parts" (merges stopped, parts_to_throw_insert reached) after the readings
    were stored. The retry carries the batch's token, so the readings are not stored again
    (before: a new token per attempt, and every reading twice)."""
    store.insert_dead_letters([DeadLetter("seed", "seed", "seed")], "seed")  # one part in dead_letters
    store.command("SYSTEM STOP MERGES dead_letters")
    store.command(
        "ALTER TABLE dead_letters MODIFY SETTING parts_to_throw_insert = 1, parts_to_delay_insert = 1, max_delay_to_insert = 0"
    )
    waits: list[float] = []

    def clear_then_wait(delay_s: float) -> None:
        waits.append(delay_s)
        store.command("ALTER TABLE dead_letters MODIFY SETTING parts_to_throw_insert = 3000")

    stats = BridgeStats()
    rejected = [Rejected.capped("facility/s/h/r/pdu_power_w", b"warm", "payload 'warm' is neither a number nor a JSON object")]
    assert write_batch(StoreSink(store), readings(50), rejected, "mqtt:run:7", stats, lambda: False, clear_then_wait)
    assert len(waits) == 1 and stats.sink_retries == 1
    assert count(store, "facility_readings") == 50 == stats.stored
    assert count(store, "dead_letters") == 2 and stats.rejected == 1


def test_dead_letters_are_capped_on_the_store_path(store: ClickHouseStore) -> None:
    huge = b'{"value": ' + b"9" * (1536 * 1024) + b"}"
    rejected = Rejected.capped("facility/s/h/r/pdu_power_w", huge, "payload of 1572874 bytes is over 4096")
    assert len(rejected.payload) == MAX_REJECTED_BYTES and rejected.size == len(huge)
    StoreSink(store).write(readings(3), [rejected], "mqtt:run:1")
    payload, reason = store.query("SELECT payload, reason FROM dead_letters").rows[0]
    assert len(payload) == MAX_REJECTED_BYTES and f"(payload cut to 4096 of {len(huge)} bytes)" in reason
    assert count(store, "facility_readings") == 3


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None:
        self.calls += 1
        raise self.error


def test_the_retry_loop_has_a_bound_and_counts_what_it_gives_up() -> None:
    slept: list[float] = []
    stats = BridgeStats()
    refusing = Failing(StoreError("Code: 60. DB::Exception: Unknown table", 60))
    assert not write_batch(refusing, readings(4), [], "t", stats, lambda: False, slept.append)
    assert refusing.calls == OTHER_ATTEMPTS and stats.dropped == 4 and stats.stored == 0
    assert len(slept) == OTHER_ATTEMPTS - 1 and slept[-1] > slept[0] and max(slept) <= 5.0  # capped backoff
    down, stats = Failing(TransientError("store unreachable")), BridgeStats()
    stopping = iter([False] * 20 + [True] * 100)
    assert not write_batch(down, readings(2), [], "t", stats, lambda: next(stopping), lambda _s: None)
    assert down.calls == 20 + STOP_ATTEMPTS and stats.dropped == 2  # retried while running; bounded once stopping


def test_a_huge_payload_in_kafka_mode_is_dead_lettered_cut_and_the_readings_after_it_land(
    mosquitto: Mosquitto, kafka1: KafkaCluster, tmp_path: Path
) -> None:
    """Before: the 1.5 MiB payload went to the dead-letter topic whole, over the producer's 1 MiB
    request limit, and was retried forever while all facility ingest stopped."""
    client_id = f"bridge-{time.monotonic_ns()}"
    subprocess.run(["mosquitto_sub", "-p", str(mosquitto.port), "-i", client_id, "-c", "-q", "1", "-t", "facility/+/+/+/+",
                    "-W", "1"], capture_output=True, check=False, timeout=10)  # fmt: skip
    huge = tmp_path / "huge.json"
    huge.write_bytes(b'{"value": ' + b"1" * (1536 * 1024) + b"}")
    subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "facility/s/h/r0/pdu_power_w", "-f", str(huge)],
                   check=True, timeout=30)  # fmt: skip
    for i in range(5):
        mosquitto.publish(f"facility/s/h/r{i}/pdu_power_w", str(1000 + i))
    bridge = gpufleet("bridge", "mqtt", "--mqtt", mosquitto.url, "--kafka", kafka1.bootstrap, "--duration", "6",
                      env=cli_env(kafka1, GPUFLEET_MQTT__CLIENT_ID=client_id), cwd=tmp_path)  # fmt: skip
    assert bridge.wait(90) == 0, bridge.stderr()[-3000:]
    summary = json.loads(bridge.stdout().strip().splitlines()[-1])  # the run summary is JSON on stdout
    assert summary["received"] == 6 and summary["stored"] == 5 and summary["rejected"] == 1 and summary["dropped"] == 0
    letters = read_topic(kafka1.bootstrap, topics.DEADLETTER)
    assert len(letters) == 1
    headers = dict(letters[0].headers)
    assert len(letters[0].value) == MAX_REJECTED_BYTES and int(headers["gpufleet.truncated"]) == huge.stat().st_size
    assert b"over 4096" in headers["gpufleet.reason"]
    values = sorted(json.loads(r.value)["value"] for r in read_topic(kafka1.bootstrap, topics.FACILITY))
    assert values == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
