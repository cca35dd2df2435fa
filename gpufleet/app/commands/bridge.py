"""`gpufleet bridge mqtt`: facility readings from the site's MQTT broker into gpufleet.

With `--kafka`, readings go to the facility topic and `gpufleet ingest` stores them;
without it they go straight into the configured store. Invalid payloads are dead-lettered
with their reason (the dead-letter topic with Kafka, the `dead_letters` table without).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpufleet.app.commands.common import (
    OneLineParser,
    add_format_flag,
    add_store_flag,
    positive_float,
    positive_int,
    print_summary,
)
from gpufleet.contract.errors import ConfigError, StoreRefusedData
from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.settings import Settings
from pipeline.isolate import insert_isolating, list_parts, model_letters
from storage.base import DeadLetter, Store

MAX_REJECTED_BYTES = 4096  # collectors.facility.bridge caps payloads at this already; stores never take more

if TYPE_CHECKING:  # aiomqtt is imported only when the bridge runs (`gpufleet collect` on a GPU node never needs it)
    from collectors.facility.bridge import BridgeStats, FacilitySink, MqttConfig, Rejected


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bridge = sub.add_parser("bridge", help="bridge facility telemetry into gpufleet")
    kinds = bridge.add_subparsers(dest="bridge_kind", required=True, parser_class=OneLineParser)
    mqtt = kinds.add_parser("mqtt", help="subscribe to facility/<site>/<hall>/<rack>/<sensor> over MQTT")
    mqtt.add_argument("--mqtt", metavar="URL", help="mqtt://host:1883 or mqtts://host:8883 (default: settings mqtt.url)")
    mqtt.add_argument("--kafka", metavar="BOOTSTRAP", help="publish to the facility topic instead of writing the store")
    mqtt.add_argument("--topic-filter", help="MQTT subscription (default: settings, facility/+/+/+/+)")
    mqtt.add_argument("--duration", type=positive_float, metavar="SEC", help="stop after SEC seconds (default: until SIGTERM)")
    mqtt.add_argument(
        "--workers", type=positive_int, default=1, help="receiver processes on a shared subscription (default: %(default)s)"
    )
    add_store_flag(mqtt)
    add_format_flag(mqtt, default="json")
    mqtt.add_argument(
        "--migrate", action="store_true", help="apply pending schema migrations at start (default: only for a chdb:// store)"
    )


class StoreSink:
    """Writes each batch to the store under the bridge's token for it, which stays the same
    across retries: a retry after the readings were stored and the dead letters were not
    stores each reading once. Readings the store refuses for their values are isolated and
    dead-lettered with the store's reason (`pipeline.isolate`); the rest is stored."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None:
        letters = [
            DeadLetter(source=f"mqtt:{r.topic}", reason=_with_size(r), payload=r.payload[:MAX_REJECTED_BYTES]) for r in rejected
        ]
        try:
            self.store.insert_facility(readings, f"{token}:facility")
        except StoreRefusedData as exc:
            refusals = insert_isolating(self.store.insert_facility, list_parts(readings), f"{token}:facility", exc)
            letters += model_letters(readings, refusals, "mqtt")
        self.store.insert_dead_letters(letters, f"{token}:dead")


def _with_size(rejected: Rejected) -> str:
    cut = rejected.size > len(rejected.payload)
    return f"{rejected.reason} (payload cut to {len(rejected.payload)} of {rejected.size} bytes)" if cut else rejected.reason


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.facility.bridge import MqttConfig

    m = settings.mqtt
    url = args.mqtt or m.url
    if not url:
        raise ConfigError("no MQTT broker: give --mqtt mqtt://host:1883 or set GPUFLEET_MQTT__URL")
    config = MqttConfig.from_url(
        url,
        username=m.username,
        password=m.password.get_secret_value() if m.password else None,
        ca_file=str(m.ca_file) if m.ca_file else None,
        cert_file=str(m.cert_file) if m.cert_file else None,
        key_file=str(m.key_file) if m.key_file else None,
        client_id=m.client_id,
        topic_filter=args.topic_filter or m.topic_filter,
    )
    if args.kafka:
        from pipeline.kafka.facility import KafkaFacilitySink

        kafka_sink = KafkaFacilitySink(args.kafka, settings.kafka)
        sink: FacilitySink = kafka_sink
        close = kafka_sink.close
    else:
        from gpufleet.app.commands.ingest import migrate_if_asked
        from storage.registry import open_store

        store = open_store(settings.store)
        migrate_if_asked(store, settings, args.migrate)
        sink = StoreSink(store)
        close = store.close
    try:
        if args.workers > 1:
            stats = _bridge_workers(config, sink, args.workers, args.duration, settings)
        else:
            stats = asyncio.run(_bridge(config, sink, args.duration, settings))
    finally:
        close()
    summary = {"received": stats.received, "stored": stats.stored, "rejected": stats.rejected,
               "reconnects": stats.reconnects, "discarded": stats.discarded, "dropped": stats.dropped}  # fmt: skip
    print_summary(summary, args.format)
    return 0


async def _bridge(config: MqttConfig, sink: FacilitySink, duration_s: float | None, settings: Settings) -> BridgeStats:
    from collectors.facility.bridge import MqttBridge

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    return await MqttBridge(config, sink, window=settings.time_window()).run(stop)


def _bridge_workers(
    config: MqttConfig, sink: FacilitySink, workers: int, duration_s: float | None, settings: Settings
) -> BridgeStats:
    import threading

    from collectors.facility.workers import new_stop_event, run_workers

    stop = new_stop_event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if duration_s is not None:
        threading.Timer(duration_s, stop.set).start()
    return run_workers(config, sink, workers, stop, settings.time_window())
