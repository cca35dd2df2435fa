"""`gpufleet emit`: a synthetic fleet publishing to Kafka like N/8 collectors (load tests).

Runs for `--duration`, flushes, prints a JSON summary on stdout (sampled, sent, dropped)
and exits 0. While the broker is away the fleet keeps sampling into a bounded buffer.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import time
from typing import Any

from gpufleet.app.commands.common import non_negative_float, positive_float, positive_int
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("emit", help="synthetic fleet → Kafka, publishing like N/8 collectors")
    p.add_argument("--gpus", type=positive_int, default=1024, help="fleet size (default: %(default)s)")
    p.add_argument(
        "--interval", type=positive_float, default=1.0, metavar="SEC", help="seconds between samples (default: %(default)s)"
    )
    p.add_argument("--duration", type=positive_float, default=60.0, metavar="SEC", help="run this long (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--first-node",
        type=int,
        default=0,
        help="number of the first node, so several emit processes cover disjoint nodes (default: 0)",
    )
    p.add_argument("--scenario", default="none", help="default | none | path of a scenario TOML (default: %(default)s)")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="host:port[,...] (default: GPUFLEET_KAFKA__BOOTSTRAP)")
    p.add_argument("--mqtt", metavar="URL", help="also publish the fleet's facility sensors (CDU, PDU, room) to this MQTT broker")
    add_publish_flags(p)


def add_publish_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--buffer-messages", type=positive_int, default=50_000, help="messages held while Kafka is away (default: %(default)s)"
    )
    p.add_argument(
        "--flush-timeout",
        type=non_negative_float,
        default=30.0,
        metavar="SEC",
        help="wait at exit for delivery (default: %(default)s)",
    )
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus /metrics on PORT (default: off)")
    p.add_argument(
        "--stats-interval",
        type=non_negative_float,
        default=10.0,
        metavar="SEC",
        help="stats line every SEC, 0 = off (default: %(default)s)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.base import SourceConfig, create_source

    start_ms = int(time.time() * 1000)
    source = create_source(
        SourceConfig(
            kind="synthetic",
            gpus=args.gpus,
            seed=args.seed,
            scenario=args.scenario,
            start_ms=start_ms,
            interval_s=args.interval,
            run_s=args.duration,
            cluster=settings.cluster,
            first_node=args.first_node,
        )
    )
    return publish_to_kafka(source, settings, args, math.ceil(args.duration / args.interval), start_ms)


def publish_to_kafka(source: Any, settings: Settings, args: argparse.Namespace, ticks: int | None, start_ms: int) -> int:
    """Run the agent over `source` into Kafka until `ticks` (None: until SIGTERM), flush, report."""
    from prometheus_client import CollectorRegistry

    from collectors.agent import Agent
    from pipeline.kafka.metrics import StatsCollector, StatsLine, serve
    from pipeline.kafka.producer import KafkaTransport, ProducerConfig

    transport = KafkaTransport(settings.kafka, args.kafka, ProducerConfig(buffer_messages=args.buffer_messages))
    facility, publisher = _facility(source, settings, getattr(args, "mqtt", None), transport)
    agent = Agent(source, publisher, args.interval, facility=facility)

    def numbers() -> dict[str, Any]:
        s, a = transport.stats, agent.stats
        return {
            "gpufleet_collector_sampled_rows_total": a.rows,
            "gpufleet_collector_sent_messages_total": s.sent_messages,
            "gpufleet_collector_sent_rows_total": s.sent_rows,
            "gpufleet_collector_buffered_messages": s.buffered_messages,
            "gpufleet_collector_dropped_messages_total": s.dropped_messages,
            "gpufleet_collector_dropped_rows_total": s.dropped_rows,
            "gpufleet_collector_kafka_connected": int(s.connected),
            "gpufleet_collector_late_ticks_total": a.late_ticks,
        }

    registry = CollectorRegistry()
    registry.register(StatsCollector(numbers, {}, {}))
    serve(registry, args.metrics_port)
    line = StatsLine(
        lambda: {k.removeprefix("gpufleet_collector_"): v for k, v in numbers().items()}, args.stats_interval
    ).start()
    signal.signal(signal.SIGTERM, lambda _s, _f: agent.stop())
    try:
        agent.run(ticks, start_ms)
        transport.flush(args.flush_timeout)
    finally:
        line.stop()
        undelivered = transport.pending_messages
        transport.close()
        if publisher is not transport:
            publisher.close()
    s = transport.stats
    summary = {
        "ticks": agent.stats.ticks,
        "sampled_rows": agent.stats.rows,
        "events": agent.stats.events,
        "sent_messages": s.sent_messages,
        "sent_rows": s.sent_rows,
        "dropped_messages": s.dropped_messages,
        "dropped_rows": s.dropped_rows,
        "undelivered_messages": undelivered,
    }
    print(json.dumps(summary))
    return 0


def _facility(source: Any, settings: Settings, mqtt_url: str | None, transport: Any) -> tuple[Any, Any]:
    """With `--mqtt`: the synthetic facility, and a publisher that sends its readings to MQTT
    (as a site's CDUs and PDUs would) and everything else to Kafka."""
    if not mqtt_url:
        return None, transport
    from collectors.facility.bridge import MqttConfig
    from collectors.facility.publisher import MqttFacilityPublisher
    from collectors.facility.synthetic import SyntheticFacility

    m = settings.mqtt
    config = MqttConfig.from_url(mqtt_url, username=m.username, password=m.password.get_secret_value() if m.password else None)
    return SyntheticFacility(source.fleet, site=settings.cluster), _FacilityToMqtt(transport, MqttFacilityPublisher(config))


class _FacilityToMqtt:
    def __init__(self, transport: Any, mqtt: Any) -> None:
        self.transport, self.mqtt = transport, mqtt
        self.publish_samples = transport.publish_samples
        self.publish_events = transport.publish_events
        self.publish_inventory = transport.publish_inventory
        self.publish_processes = transport.publish_processes
        self.publish_facility = mqtt.publish_facility

    def close(self) -> None:
        self.mqtt.close()
