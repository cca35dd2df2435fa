"""MQTT bridge throughput against raw subscribers, same broker, same messages, same run.

    .venv/bin/python benchmarks/bench_mqtt_bridge.py [--readings 100000]

A Mosquitto broker (Debian's) runs on a loopback port. Each subscriber first registers a
persistent QoS 1 session and goes away; the readings are then published (a 1,500-rack site,
6 sensors per rack, JSON payloads) and queued by the broker for it; the subscriber comes
back and drains them. Timing the drain measures the subscriber alone, not the publisher:
1. mosquitto_sub (C client, prints nothing): the broker's delivery rate;
2. a raw aiomqtt subscriber that only counts messages (the stock client's ceiling);
3. the same with the bridge's `fastread` hooks (socket read and queue taken in bursts);
4. the gpufleet bridge, as `gpufleet bridge mqtt` runs it: parse, validate, batch, insert into chDB;
5. the bridge with `--workers N` receiver processes on a shared subscription.
Prints readings/s for each and the ratio bridge / raw aiomqtt.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.facility import fastread
from collectors.facility.bridge import MqttBridge, MqttConfig, Rejected
from collectors.facility.payload import encode_reading
from collectors.facility.workers import new_stop_event, run_workers
from gpufleet.app.commands.bridge import StoreSink
from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.sensors import SENSORS, TOPIC_FILTER
from gpufleet.contract.times import TimeWindow
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate
from tests.support.mosquitto import Mosquitto


def readings(n: int) -> list[tuple[str, bytes]]:
    now = int(time.time() * 1000)
    sensors = list(SENSORS)
    out = []
    for i in range(n):
        rack, sensor = divmod(i, len(sensors))
        sample = FacilitySample(ts_ms=now + i // 9000, site="memphis", hall=f"hall-{rack % 4 + 1}",
                                rack=f"rack-{rack % 1500:04d}", sensor=sensors[sensor], value=30.0 + (i % 7))  # fmt: skip
        out.append(encode_reading(sample))
    return out


async def register(url: str, client_id: str, topic_filter: str = TOPIC_FILTER) -> None:
    c = MqttConfig.from_url(url)
    async with aiomqtt.Client(c.host, c.port, identifier=client_id, clean_session=False) as client:
        await client.subscribe(topic_filter, qos=1)


async def publish(url: str, messages: list[tuple[str, bytes]]) -> float:
    c = MqttConfig.from_url(url)
    t = time.perf_counter()
    async with aiomqtt.Client(c.host, c.port, max_inflight_messages=2000, max_queued_outgoing_messages=len(messages)) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)
    return len(messages) / (time.perf_counter() - t)


async def drain_raw(url: str, client_id: str, n: int, burst: bool = False) -> float:
    """Count messages only; `burst`: with the bridge's fastread hooks (reads and takes in bursts)."""
    c = MqttConfig.from_url(url)
    got = 0
    t = time.perf_counter()
    client = aiomqtt.Client(c.host, c.port, identifier=client_id, clean_session=False, max_queued_incoming_messages=n + 1)
    if burst and not fastread.install(client):
        raise SystemExit("fastread did not install: see the warning above")
    async with client:
        async for first in client.messages:
            got += len(fastread.take_ready(client, first, n - got)) if burst else 1
            if got >= n:
                break
    return n / (time.perf_counter() - t)


async def drain_bridge(url: str, client_id: str, n: int, store: ClickHouseStore) -> float:
    bridge = MqttBridge(MqttConfig.from_url(url, client_id=client_id), StoreSink(store))
    stop = asyncio.Event()

    async def watch() -> None:
        while bridge.stats.stored < n:
            await asyncio.sleep(0.01)
        stop.set()

    t = time.perf_counter()
    await asyncio.gather(bridge.run(stop), watch())
    return n / (time.perf_counter() - t)


def drain_workers(url: str, client_id: str, n: int, store: ClickHouseStore, workers: int) -> float:
    stop = new_stop_event()
    config = MqttConfig.from_url(url, client_id=client_id)
    sink = StoreSink(store)
    counted = {"stored": 0}

    class CountingSink:
        def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None:
            sink.write(readings, rejected, token)
            counted["stored"] += len(readings)
            if counted["stored"] >= n:
                stop.set()

    t = time.perf_counter()
    run_workers(config, CountingSink(), workers, stop, TimeWindow())
    return n / (time.perf_counter() - t)


def drain_mosquitto_sub(port: int, client_id: str, n: int) -> float:
    t = time.perf_counter()
    subprocess.run(["mosquitto_sub", "-p", str(port), "-i", client_id, "-c", "-q", "1", "-t", TOPIC_FILTER, "-C", str(n)],
                   stdout=subprocess.DEVNULL, check=True, timeout=600)  # fmt: skip
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.readings
    messages = readings(n)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.config.write_text(f"listener {broker.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        broker.start()
        store = ClickHouseStore.open(f"chdb://{tmp}/chdb")
        migrate(store)
        try:
            for cid in ("bench-sub", "bench-raw", "bench-burst", "bench-bridge"):
                asyncio.run(register(broker.url, cid))
            for i in range(args.workers):
                asyncio.run(register(broker.url, f"bench-workers-{i}", f"$share/gpufleet/{TOPIC_FILTER}"))
            subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-i", "bench-sub", "-c", "-q", "1", "-t", TOPIC_FILTER,
                            "-W", "1"], stdout=subprocess.DEVNULL, check=False)  # fmt: skip
            pub_rate = asyncio.run(publish(broker.url, messages))
            sub_rate = drain_mosquitto_sub(broker.port, "bench-sub", n)
            raw_rate = asyncio.run(drain_raw(broker.url, "bench-raw", n))
            burst_rate = asyncio.run(drain_raw(broker.url, "bench-burst", n, burst=True))
            bridge_rate = asyncio.run(drain_bridge(broker.url, "bench-bridge", n, store))
            workers_rate = drain_workers(broker.url, "bench-workers", n, store, args.workers)
            stored = store.query("SELECT count() FROM facility_readings").rows[0][0]
        finally:
            broker.stop()
    print(f"{n:,} readings (JSON, 6 sensors × 1,500 racks), QoS 1, Mosquitto on loopback")
    print(f"publish (aiomqtt, for scale): {pub_rate:,.0f} readings/s")
    print(f"mosquitto_sub drain (C client): {sub_rate:,.0f} readings/s")
    print(f"raw aiomqtt subscriber drain (count only): {raw_rate:,.0f} readings/s")
    print(f"aiomqtt subscriber + fastread (burst reads, count only): {burst_rate:,.0f} readings/s")
    print(f"gpufleet bridge drain (parse, validate, insert into chDB): {bridge_rate:,.0f} readings/s; stored {stored:,}")
    print(f"gpufleet bridge --workers {args.workers} drain (shared subscription): {workers_rate:,.0f} readings/s")
    print(f"ratio bridge / raw aiomqtt: {bridge_rate / raw_rate:.2f}; bridge / mosquitto_sub: {bridge_rate / sub_rate:.2f}")
    print(f"ratio bridge --workers {args.workers} / raw aiomqtt: {workers_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
