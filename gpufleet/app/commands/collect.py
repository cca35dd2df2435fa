"""`gpufleet collect`: the per-node agent, or one look at what it would send."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from gpufleet.app.commands.common import positive_float, positive_int
from gpufleet.app.commands.emit import add_publish_flags, publish_to_kafka
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    collect = sub.add_parser("collect", help="the per-node collector agent")
    collect.add_argument("--source", default="synthetic", help="nvml | synthetic (default: %(default)s)")
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one NodeSample and the GPUs' processes as JSON and exit")
    mode.add_argument("--inventory", action="store_true", help="print the GPU inventory as a JSON list and exit")
    mode.add_argument("--events-for", type=positive_float, metavar="SEC", help="print events as JSON lines for SEC seconds")
    collect.add_argument(
        "--duration", type=positive_float, metavar="SEC", help="stop after SEC seconds (default: run until stopped)"
    )
    collect.add_argument(
        "--interval", type=positive_float, default=1.0, metavar="SEC", help="seconds between samples (default: %(default)s)"
    )
    collect.add_argument("--gpus", type=positive_int, default=8, help="synthetic: GPUs to simulate (default: %(default)s)")
    collect.add_argument("--node-id", type=int, default=0, help="synthetic: global node number (default: %(default)s)")
    collect.add_argument("--seed", type=int, default=0, help="synthetic: random seed (default: %(default)s)")
    collect.add_argument("--scenario", default="none", help="synthetic: fault scenario (default: %(default)s)")
    for label in ("hall", "row", "rack", "node"):
        collect.add_argument(f"--{label}", help=f"nvml: this node's {label} label")
    collect.add_argument("--nvml-module", default="pynvml", help=argparse.SUPPRESS)
    collect.add_argument("--kafka", metavar="BOOTSTRAP", help="publish to Kafka at host:port[,...] instead of stdout")
    add_publish_flags(collect)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.agent import Agent
    from collectors.base import SourceConfig, create_source
    from pipeline.jsonl import JsonLinesTransport

    labels = {k: getattr(args, k) for k in ("hall", "row", "rack", "node") if getattr(args, k)}
    config = SourceConfig(
        kind=args.source,
        gpus=args.gpus,
        seed=args.seed,
        scenario=args.scenario,
        interval_s=args.interval,
        cluster=settings.cluster,
        first_node=args.node_id,
        topology={"cluster": settings.cluster, **labels},
        nvml_module=args.nvml_module,
    )
    source = create_source(config)
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
        out, ticks = JsonLinesTransport(sys.stdout, events=False, inventory=False), 1
    elif args.events_for:
        out = JsonLinesTransport(sys.stdout, samples=False, inventory=False, processes=False)
        ticks = math.ceil(args.events_for / args.interval)
    else:
        out = JsonLinesTransport(sys.stdout)
        ticks = None if args.duration is None else math.ceil(args.duration / args.interval)
    Agent(source, out, args.interval, speed=0.0 if args.once else 1.0).run(ticks, int(time.time() * 1000))
    return 0
