"""Facility telemetry: MQTT payloads, the bridge against a real Mosquitto, the synthetic
facility's consistency with the GPUs, and the demo storing both."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from collectors.facility.bridge import BridgeStats, MqttBridge, MqttConfig, Rejected
from collectors.facility.payload import encode_reading, parse_reading
from collectors.facility.publisher import publish_readings
from collectors.facility.synthetic import HOST_OVERHEAD_W_PER_NODE, SyntheticFacility
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.app.commands.bridge import StoreSink
from gpufleet.contract.errors import InvalidMessage
from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.times import TimeWindow
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli
from tests.support.mosquitto import Mosquitto

NOW_MS = int(time.time() * 1000)
TOPIC = "facility/memphis/hall-1/rack-0003/cdu_supply_temp_c"


def test_json_and_bare_number_payloads() -> None:
    r = parse_reading(TOPIC, b'{"value": 31.5, "unit": "\xc2\xb0C", "ts": %d}' % (NOW_MS - 86_400_000), NOW_MS)
    assert (r.site, r.hall, r.rack, r.sensor, r.value, r.ts_ms) == (
        "memphis",
        "hall-1",
        "rack-0003",
        "cdu_supply_temp_c",
        31.5,
        NOW_MS - 86_400_000,
    )
    r = parse_reading(TOPIC, b" 29.25\n", NOW_MS)
    assert (r.value, r.ts_ms) == (29.25, NOW_MS)
    yesterday_s = NOW_MS // 1000 - 86_400
    iso = dt.datetime.fromtimestamp(yesterday_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = parse_reading(TOPIC, b'{"value": 30, "ts": "%s"}' % iso.encode(), NOW_MS)
    assert r.ts_ms == yesterday_s * 1000
    topic, payload = encode_reading(r)
    assert parse_reading(topic, payload, 0) == r


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{not json", "not valid JSON"),
        (TOPIC, b"warm", "neither a number nor a JSON object"),
        (TOPIC, b'{"value": "31"}', "is not a number"),
        (TOPIC, b'{"value": 31, "unit": "F"}', "unit 'F' does not match"),
        (TOPIC, b"NaN", "not finite"),
        (TOPIC, b"250", "outside [-10, 90]"),
        (TOPIC, b'{"value": 31, "extra": 1}', "unknown key"),
        (TOPIC, b'{"value": 31, "ts": 99999999999999999999}', "out of time window"),
        (TOPIC, b'{"value": 31, "ts": 4611686018427387904}', "in the future (limit 5 min)"),
        (TOPIC, b'{"value": 31, "ts": %d}' % (NOW_MS - 30 * 86_400_000), "beyond the raw TTL (14 days)"),
        (TOPIC, b"", "empty payload"),
        (TOPIC, b"  \n", "empty payload"),
        ("facility/memphis/hall-1/rack-0003/smoke_ppm", b"1", "unknown sensor 'smoke_ppm'"),
        ("facility/memphis/rack-0003/cdu_supply_temp_c", b"30", "is not facility/<site>/<hall>/<rack>/<sensor>"),
        ("facility//hall-1/rack-0003/cdu_supply_temp_c", b"30", "is not facility/"),
    ],
)
def test_malformed_payloads_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_reading(topic, payload, NOW_MS)
    assert reason in info.value.reason


@pytest.mark.parametrize("value", [-10.0, -10.5, 89.9, 90.0, 90.1, 0.0, 1e9])
def test_bridge_parser_and_schema_agree(value: float) -> None:
    from pydantic import ValidationError

    fields = {"ts_ms": NOW_MS, "site": "s", "hall": "h", "rack": "r", "sensor": "cdu_supply_temp_c", "value": value}
    try:
        FacilitySample.model_validate(fields)
        schema_ok = True
    except ValidationError:
        schema_ok = False
    try:
        parsed = parse_reading("facility/s/h/r/cdu_supply_temp_c", repr(value).encode(), NOW_MS)
        assert parsed == FacilitySample.model_validate(fields)
        parser_ok = True
    except InvalidMessage:
        parser_ok = False
    assert parser_ok == schema_ok


def fleet_and_facility(scenario: str = "none", gpus: int = 1024, ticks: int = 1) -> tuple[SyntheticFleet, SyntheticFacility]:
    fleet = SyntheticFleet(gpus, 4, load_scenario(scenario), NOW_MS - ticks * 1000, 1.0, ticks)
    return fleet, SyntheticFacility(fleet, site="colossus")


def by_sensor(readings: list[FacilitySample]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in readings:
        out.setdefault(r.sensor, {})[r.rack] = r.value
    return out


def test_synthetic_facility_follows_the_gpus() -> None:
    fleet, facility = fleet_and_facility(gpus=2048)
    frame, _ = fleet.tick()
    readings = by_sensor(facility.sample(fleet.now_ms))
    assert set(readings) == {"cdu_supply_temp_c", "cdu_return_temp_c", "coolant_flow_lpm", "pdu_power_w",
                             "room_inlet_temp_c", "room_humidity_pct"}  # fmt: skip
    racks = frame.labels["rack"]
    gpu_w = {name: 0.0 for name in racks.values}
    for code, mw in zip(racks.codes.tolist(), frame.metrics["power_mw"].tolist(), strict=True):
        gpu_w[racks.values[code]] += mw / 1000
    for rack, watts in gpu_w.items():
        assert abs(readings["pdu_power_w"][rack] - (watts + 8 * HOST_OVERHEAD_W_PER_NODE)) < 1_000
    delta = {rack: readings["cdu_return_temp_c"][rack] - readings["cdu_supply_temp_c"][rack] for rack in gpu_w}
    racks_in_order = sorted(gpu_w)
    power = [gpu_w[r] for r in racks_in_order]
    assert np.corrcoef(power, [delta[r] for r in racks_in_order])[0, 1] > 0.9, "coolant warms more through a busier rack"


def test_cooling_failure_shows_in_the_cdu_before_the_gpus() -> None:
    fleet, facility = fleet_and_facility("default", gpus=1024, ticks=100)
    rack_of: dict[str, float] = {}
    first_cdu = first_gpu = None
    for _ in range(100):
        frame, _ = fleet.tick()
        cdu = by_sensor(facility.sample(fleet.now_ms))
        failure = next((f for f in fleet.truth if f.kind == "cooling_failure"), None)
        if failure is None:
            continue
        rack = fleet.topology.labels["rack"].values[fleet.topology.labels["rack"].codes[failure.gpus[0]]]
        rack_of.setdefault(rack, cdu["cdu_supply_temp_c"][rack])
        if first_cdu is None and cdu["coolant_flow_lpm"][rack] < 50:
            first_cdu = fleet.now_ms
        rows = np.array([v == rack for v in frame.label_list("rack")])
        if first_gpu is None and (frame.metrics["clocks_event_reasons"][rows] & 0x60).any():
            first_gpu = fleet.now_ms
    assert first_cdu is not None and first_gpu is not None
    assert first_cdu < first_gpu, "flow drops at once; GPUs throttle only after they heat up"


class BridgeThread:
    """The bridge on its own event loop in a thread, as `gpufleet bridge mqtt` runs it."""

    def __init__(self, url: str, store: ClickHouseStore) -> None:
        self.bridge = MqttBridge(MqttConfig.from_url(url, client_id=f"test-{time.monotonic_ns()}"), StoreSink(store),
                                 flush_interval_s=0.2)  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)

    async def _run(self) -> None:
        self.stop_event = asyncio.Event()
        await self.bridge.run(self.stop_event)

    def __enter__(self) -> BridgeThread:
        self.thread.start()
        wait_for(lambda: self.bridge.stats.connected, "bridge connected")
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=20)


def wait_for(condition: object, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def count(store: ClickHouseStore, sql: str) -> int:
    return int(store.query(sql).rows[0][0])


def test_bridge_stores_valid_and_dead_letters_invalid(mosquitto: Mosquitto, store: ClickHouseStore) -> None:
    fleet, facility = fleet_and_facility(gpus=256)
    fleet.tick()
    readings = facility.sample(fleet.now_ms)  # 4 racks × 6 sensors
    with BridgeThread(mosquitto.url, store) as bridge:
        assert asyncio.run(publish_readings(MqttConfig.from_url(mosquitto.url), readings)) == len(readings)
        mosquitto.publish("facility/colossus/hall-1/rack-0000/room_inlet_temp_c", "23.5")  # bare number
        mosquitto.publish("facility/colossus/hall-1/rack-0001/cdu_supply_temp_c", '{"value": 28.1, "unit": "C"}')
        bad = {
            "facility/colossus/hall-1/rack-0000/pdu_power_w": "{oops",
            "facility/colossus/hall-1/rack-0000/dust_ppm": "3",
            "facility/colossus/hall-1/rack-0000/coolant_flow_lpm": '{"value": "fast"}',
            "facility/colossus/rack-0000/pdu_power_w": "1000",
        }
        for topic, payload in bad.items():
            mosquitto.publish(topic, payload)
        wait_for(lambda: bridge.bridge.stats.stored + bridge.bridge.stats.rejected >= len(readings) + 2 + len(bad) - 1,
                 "all messages handled")  # fmt: skip
    # the wrong-shape topic does not match facility/+/+/+/+, so the broker never delivers it
    assert count(store, "SELECT count() FROM facility_readings") == len(readings) + 2
    stored = {(r[0], r[1], r[2]) for r in store.query("SELECT rack, sensor, value FROM facility_readings").rows}
    assert ("rack-0000", "room_inlet_temp_c", 23.5) in stored and ("rack-0001", "cdu_supply_temp_c", 28.1) in stored
    assert {(r.rack, r.sensor, r.value) for r in readings} <= stored
    reasons = {r[0] for r in store.query("SELECT reason FROM dead_letters").rows}
    assert len(reasons) == 3
    assert any("not valid JSON" in r for r in reasons) and any("dust_ppm" in r for r in reasons)
    assert any("'fast' is not a number" in r for r in reasons)


def test_bridge_survives_a_broker_restart(mosquitto: Mosquitto, store: ClickHouseStore) -> None:
    with BridgeThread(mosquitto.url, store) as bridge:
        for i in range(5):
            mosquitto.publish(f"facility/s/h/rack-{i}/pdu_power_w", str(40_000 + i))
        wait_for(lambda: bridge.bridge.stats.stored >= 5, "first readings stored")
        mosquitto.stop()
        wait_for(lambda: not bridge.bridge.stats.connected, "bridge noticed the outage")
        mosquitto.start()
        wait_for(lambda: bridge.bridge.stats.connected, "bridge reconnected", timeout_s=30)
        for i in range(5):
            mosquitto.publish(f"facility/s/h/rack-{i}/pdu_power_w", str(50_000 + i))
        wait_for(lambda: bridge.bridge.stats.stored >= 10, "readings after the restart stored")
        assert bridge.bridge.stats.reconnects >= 1
    values = sorted(int(r[0]) for r in store.query("SELECT value FROM facility_readings").rows)
    assert values == [40_000, 40_001, 40_002, 40_003, 40_004, 50_000, 50_001, 50_002, 50_003, 50_004]


def test_bridge_command_end_to_end(mosquitto: Mosquitto, tmp_path: Path) -> None:
    data, client_id = tmp_path / "site", f"bridge-{time.monotonic_ns()}"
    # Register the bridge's persistent QoS 1 session first: the broker then queues what is
    # published before the bridge process is up, and hands it over when it connects.
    subprocess.run(["mosquitto_sub", "-p", str(mosquitto.port), "-i", client_id, "-c", "-q", "1", "-t", "facility/+/+/+/+",
                    "-W", "1"], capture_output=True, check=False, timeout=10)  # fmt: skip
    for i in range(3):
        mosquitto.publish(f"facility/colossus/hall-1/rack-{i:04d}/cdu_return_temp_c", f"{35 + i}")
    mosquitto.publish("facility/colossus/hall-1/rack-0000/cdu_return_temp_c", "hot")
    bridge = run_cli("bridge", "mqtt", "--mqtt", mosquitto.url, "--store", f"chdb://{data}", "--duration", "4",
                     env={"GPUFLEET_MQTT__CLIENT_ID": client_id})  # fmt: skip
    assert bridge.returncode == 0, bridge.stderr
    counted = {"received": 4, "stored": 3, "rejected": 1, "reconnects": 0, "discarded": 0, "dropped": 0}
    assert json.loads(bridge.stdout.strip().splitlines()[-1]) == counted  # JSON on stdout, logs on stderr
    counts = "SELECT (SELECT count() FROM facility_readings) AS ok, (SELECT count() FROM dead_letters) AS bad"
    result = run_cli("sql", "--store", f"chdb://{data}", "--format", "csv", counts)
    assert result.stdout.strip().splitlines()[-1] == "3,1", result.stdout + result.stderr


def test_bridge_workers_check_times_against_the_window_the_settings_set(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """`bridge --workers 2` with `raw_ttl_days=2` and `max_clock_ahead_s=60`: a reading 3 days
    old and one 2 min ahead are inside the default window (14 days, 5 min) and must still be
    dead-lettered by the receiver that gets them (before the fix the workers used the default)."""
    data, client_id = tmp_path / "site", f"workers-{time.monotonic_ns()}"
    # Each receiver's persistent session on the shared subscription first: Mosquitto then
    # queues for them what is published before the spawned processes are up.
    for i in range(2):
        session = ["-i", f"{client_id}-{i}", "-c", "-q", "1", "-t", "$share/gpufleet/facility/+/+/+/+", "-W", "1"]
        subprocess.run(["mosquitto_sub", "-p", str(mosquitto.port), *session], capture_output=True, check=False, timeout=10)
    now_ms = int(time.time() * 1000)
    times = {"old": now_ms - 3 * 86_400_000, "ahead": now_ms + 120_000, "day": now_ms - 86_400_000, "now": now_ms}
    for rack, ts_ms in enumerate(times.values()):
        mosquitto.publish(f"facility/s/h/rack-{rack:04d}/cdu_return_temp_c", json.dumps({"value": 30 + rack, "ts": ts_ms}))
    env = {"GPUFLEET_MQTT__CLIENT_ID": client_id, "GPUFLEET_RAW_TTL_DAYS": "2", "GPUFLEET_MAX_CLOCK_AHEAD_S": "60"}
    bridge = run_cli("bridge", "mqtt", "--mqtt", mosquitto.url, "--store", f"chdb://{data}", "--workers", "2",
                     "--duration", "8", env=env)  # fmt: skip
    assert bridge.returncode == 0, bridge.stderr
    summary = json.loads(bridge.stdout.strip().splitlines()[-1])
    assert (summary["received"], summary["stored"], summary["rejected"]) == (4, 2, 2), summary
    query = "SELECT (SELECT groupArray(value) FROM (SELECT value FROM facility_readings ORDER BY value)) AS stored, "
    query += "(SELECT groupArray(reason) FROM (SELECT reason FROM dead_letters ORDER BY reason)) AS refused"
    result = run_cli("sql", "--store", f"chdb://{data}", "--format", "json", query)
    row = json.loads(result.stdout)[0]
    assert [float(v) for v in row["stored"]] == [32.0, 33.0], row  # "day" and "now"
    reasons = " | ".join(row["refused"])
    assert len(row["refused"]) == 2 and reasons.count("out of time window") == 2, reasons
    assert "in the future (limit 60 s)" in reasons and "beyond the raw TTL (2 days)" in reasons, reasons


def test_demo_stores_facility_readings_beside_gpus(store_dsn: str, tmp_path: Path) -> None:
    from gpufleet.app.demo import DemoOptions, run_demo

    result = run_demo(DemoOptions(gpus=512, duration_s=20, speed=0, scenario="default", data_dir=tmp_path), store_dsn=store_dsn)
    store = ClickHouseStore.open(store_dsn)
    racks = 512 // 64
    assert count(store, "SELECT count() FROM facility_readings") == racks * 6 * 20 == result.ingest.facility
    rows = store.query(
        "SELECT rack, pdu_w, gpu_power_w, delta_t_c FROM rack_facility_minute WHERE gpu_power_w > 0 ORDER BY rack"
    ).rows
    assert rows and all(pdu > gpu for _, pdu, gpu, _ in rows), "PDU power includes the hosts"


def test_bridge_workers_share_the_subscription_without_loss_or_duplicates(mosquitto: Mosquitto, store: ClickHouseStore) -> None:
    from collectors.facility.workers import new_stop_event, run_workers

    stop = new_stop_event()
    config = MqttConfig.from_url(mosquitto.url, client_id=f"w-{time.monotonic_ns()}")
    results: dict[str, BridgeStats] = {}
    runner = threading.Thread(target=lambda: results.update(stats=run_workers(config, StoreSink(store), 2, stop, TimeWindow())))
    runner.start()
    time.sleep(4)  # two spawned receivers import and subscribe
    messages = [(f"facility/s/h/rack-{i % 50:04d}/pdu_power_w", str(10_000 + i)) for i in range(120)]
    for topic, payload in messages[:60]:
        mosquitto.publish(topic, payload)
    mosquitto.publish("facility/s/h/rack-0000/pdu_power_w", "lots")
    for topic, payload in messages[60:]:
        mosquitto.publish(topic, payload)
    wait_for(lambda: count(store, "SELECT count() FROM facility_readings") >= 120, "all readings stored", timeout_s=60)
    stop.set()
    runner.join(timeout=30)
    values = sorted(int(r[0]) for r in store.query("SELECT value FROM facility_readings").rows)
    assert values == list(range(10_000, 10_120)), "each reading stored exactly once"
    assert count(store, "SELECT count() FROM dead_letters") == 1
    stats = results["stats"]
    assert stats.stored == 120 and stats.rejected == 1


def test_readings_past_every_bound_are_counted_not_silently_lost(mosquitto: Mosquitto, store: ClickHouseStore) -> None:
    class SlowSink(StoreSink):
        def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None:
            time.sleep(1.0)  # a store far slower than the sensors
            super().write(readings, rejected, token)

    config = MqttConfig.from_url(mosquitto.url, client_id=f"slow-{time.monotonic_ns()}")
    bridge = MqttBridge(config, SlowSink(store), batch_max=5, flush_interval_s=0.1, queue_max=5, client_queue_max=5)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(bridge.run(stop),), daemon=True)
    thread.start()
    wait_for(lambda: bridge.stats.connected, "connected")
    subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "facility/s/h/r/pdu_power_w", "-l"],
                   input="\n".join(str(1000 + i) for i in range(200)), text=True, check=True, timeout=30)  # fmt: skip
    wait_for(lambda: bridge.stats.received + bridge.stats.discarded >= 200, "every message received or discarded", 60)
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=60)
    stored = count(store, "SELECT count() FROM facility_readings")
    assert bridge.stats.discarded > 0, "the tiny bound must have overflowed"
    assert stored == bridge.stats.stored == bridge.stats.received
    assert stored + bridge.stats.discarded == 200
