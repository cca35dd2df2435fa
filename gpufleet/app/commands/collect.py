"""`gpufleet collect`: the per-node agent, or one look at what it would send."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from gpufleet.app.commands.common import add_fleet_flags, add_kafka_flag, add_publish_flags, positive_float, source_config
from gpufleet.app.commands.emit import publish_to_kafka
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    collect = sub.add_parser("collect", help="the per-node collector agent")
    collect.add_argument("--source", default="synthetic", help="nvml | synthetic (default: %(default)s)")
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one NodeSample as JSON and exit")
    mode.add_argument("--inventory", action="store_true", help="print the GPU inventory as a JSON list and exit")
    mode.add_argument("--events-for", type=positive_float, metavar="SEC", help="print events as JSON lines for SEC seconds")
    collect.add_argument(
        "--duration", type=positive_float, metavar="SEC", help="stop after SEC seconds (default: run until stopped)"
    )
    add_fleet_flags(collect, gpus=8, scenario="none", prefix="synthetic: ")
    collect.add_argument("--node-id", type=int, default=0, help="synthetic: global node number (default: %(default)s)")
    for label in ("hall", "row", "rack", "node"):
        collect.add_argument(f"--{label}", help=f"nvml: this node's {label} label")
    collect.add_argument("--nvml-module", default="pynvml", help=argparse.SUPPRESS)
    add_kafka_flag(collect, help="publish to Kafka at host:port[,...] instead of stdout")
    add_publish_flags(collect)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.agent import Agent
    from collectors.base import create_source
    from pipeline.registry import MESSAGE_KINDS, TransportConfig, create_transport

    labels = {k: getattr(args, k) for k in ("hall", "row", "rack", "node") if getattr(args, k)}
    topology = {"cluster": settings.cluster, **labels}
    source = create_source(
        source_config(args, settings, kind=args.source, first_node=args.node_id, topology=topology, nvml_module=args.nvml_module)
    )
    if args.inventory:
        source.open(lambda _event: None)
        try:
            print(json.dumps([i.model_dump(mode="json") for i in source.inventory()], indent=2))
        finally:
            source.close()
        return 0
    if args.kafka and not (args.once or args.events_for):
        run_ticks = None if args.duration is None else math.ceil(args.duration / args.interval)
        return publish_to_kafka(source, settings, args, run_ticks, int(time.time() * 1000))
    ticks: int | None
    if args.once:
        messages, ticks = frozenset({"samples", "facility"}), 1
    elif args.events_for:
        messages, ticks = frozenset({"events", "facility"}), math.ceil(args.events_for / args.interval)
    else:
        messages = MESSAGE_KINDS
        ticks = None if args.duration is None else math.ceil(args.duration / args.interval)
    out = create_transport(TransportConfig("jsonl", stream=sys.stdout, messages=messages))
    Agent(source, out, args.interval, speed=0.0 if args.once else 1.0).run(ticks, int(time.time() * 1000))
    return 0
