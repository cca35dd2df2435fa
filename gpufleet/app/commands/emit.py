"""`gpufleet emit`: a synthetic fleet publishing to Kafka like N/8 collectors (load tests).

Runs for `--duration`, flushes, prints a JSON summary on stdout (sampled, sent, dropped)
and exits 0. While the broker is away the fleet keeps sampling into a bounded buffer.
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from typing import Any, cast

from gpufleet.app.commands.common import (
    add_fleet_flags,
    add_format_flag,
    add_kafka_flag,
    add_publish_flags,
    print_summary,
    source_config,
)
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("emit", help="synthetic fleet → Kafka, publishing like N/8 collectors")
    add_fleet_flags(p, gpus=1024, scenario="none", duration_help="run this long")
    p.add_argument(
        "--first-node",
        type=int,
        default=0,
        help="number of the first node, so several emit processes cover disjoint nodes (default: 0)",
    )
    add_kafka_flag(p)
    p.add_argument("--mqtt", metavar="URL", help="also publish the fleet's facility sensors (CDU, PDU, room) to this MQTT broker")
    add_publish_flags(p)
    add_format_flag(p, default="json")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.base import create_source

    start_ms = int(time.time() * 1000)
    config = source_config(args, settings, kind="synthetic", start_ms=start_ms, run_s=args.duration, first_node=args.first_node)
    return publish_to_kafka(create_source(config), settings, args, math.ceil(args.duration / args.interval), start_ms)


def publish_to_kafka(
    source: Any, settings: Settings, args: argparse.Namespace, ticks: int | None, start_ms: int, exposition: Any = None
) -> int:
    """Run the agent over `source` into Kafka until `ticks` (None: until SIGTERM), flush, report.

    With `exposition` (a `collectors.prometheus.exposition.GpuExposition`), every frame also
    goes to it and `/metrics` serves the GPUs beside the publishing counters."""
    from gpufleet.app.extras import require

    require("kafka", "msgspec", "prometheus_client")
    from prometheus_client import CollectorRegistry

    from collectors.agent import Agent, FanOut
    from collectors.prometheus.server import MetricsServer
    from pipeline.kafka.metrics import StatsCollector, StatsLine
    from pipeline.kafka.producer import KafkaTransport
    from pipeline.registry import TransportConfig, create_transport

    config = TransportConfig("kafka", settings.kafka, args.kafka, buffer_messages=args.buffer_messages)
    transport = cast(KafkaTransport, create_transport(config))  # its delivery stats go in the summary
    from collectors.jobs.alongside import bind_job_publisher, poll_summary

    bind_job_publisher(source, transport)  # a job source polled inside the collector (--kubelet-socket)
    facility, publisher = _facility(source, settings, getattr(args, "mqtt", None), transport)
    agent = Agent(source, publisher if exposition is None else FanOut(publisher, exposition), args.interval, facility=facility)

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
    if exposition is not None:
        registry.register(exposition)
    server = None
    if args.metrics_port is not None:
        server = MetricsServer(registry, args.metrics_port, host=getattr(args, "metrics_host", "0.0.0.0"))
    line = StatsLine(
        lambda: {k.removeprefix("gpufleet_collector_"): v for k, v in numbers().items()}, args.stats_interval
    ).start()
    signal.signal(signal.SIGTERM, lambda _s, _f: agent.stop())
    try:
        agent.run(ticks, start_ms)
        transport.flush(args.flush_timeout)
    finally:
        line.stop()
        if server is not None:
            server.close()
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
        "dropped_tried_rows": s.dropped_tried_rows,
        "undelivered_messages": undelivered,
        **poll_summary(source),
    }
    print_summary(summary, getattr(args, "format", "json"))
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
        self.publish_instance_activity = transport.publish_instance_activity
        self.publish_facility = mqtt.publish_facility

    def close(self) -> None:
        self.mqtt.close()
