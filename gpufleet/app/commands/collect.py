"""`gpufleet collect`: the per-node agent, or one look at what it would send.

Where the samples go: `--kafka` publishes them; `--metrics-port` serves every GPU metric
on `/metrics` under dcgm-exporter's names (alone, it is a dcgm-exporter replacement and
prints nothing); both together do both; with neither, JSON lines go to stdout. The node's
labels come from the flags, then `GPUFLEET_NODE__*`, then `[node]` in the settings file,
and `node` falls back to the hostname (docs/collector.md, "Node identity").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpufleet.app.commands.common import (
    add_fleet_flags,
    add_format_flag,
    add_kafka_flag,
    add_publish_flags,
    positive_float,
    source_config,
)
from gpufleet.app.commands.emit import publish_to_kafka
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.settings import Settings

if TYPE_CHECKING:  # for the annotation only: this module imports collectors where it uses them
    from collectors.base import Source

NODE_LABELS = ("hall", "row", "rack", "node")


def node_topology(args: argparse.Namespace, settings: Settings) -> dict[str, str]:
    """cluster/hall/row/rack/node: flags over settings (env, then file); unset ones are left
    to the source (hostname for node, "unknown" for the rest)."""
    configured = settings.node.model_dump()
    labels = {k: v for k in NODE_LABELS if (v := getattr(args, k) or configured.get(k))}
    return {"cluster": settings.cluster, **labels}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    collect = sub.add_parser("collect", help="the per-node collector agent")
    collect.add_argument(
        "--source", default="nvml", help="nvml (this node's GPUs) | synthetic (a simulated node) (default: %(default)s)"
    )
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one NodeSample and the GPUs' processes as JSON and exit")
    mode.add_argument("--inventory", action="store_true", help="print the GPU inventory as a JSON list and exit")
    mode.add_argument("--events-for", type=positive_float, metavar="SEC", help="print events as JSON lines for SEC seconds")
    collect.add_argument(
        "--duration", type=positive_float, metavar="SEC", help="stop after SEC seconds (default: run until stopped)"
    )
    add_fleet_flags(collect, gpus=8, scenario="none", prefix="synthetic: ")
    collect.add_argument("--node-id", type=int, default=0, help="synthetic: global node number (default: %(default)s)")
    for label in NODE_LABELS:
        default = "the hostname" if label == "node" else "unknown"
        collect.add_argument(f"--{label}", help=f"nvml: this node's {label} label (default: GPUFLEET_NODE__{label.upper()}, "
                             f"[node] {label} in the settings file, else {default})")  # fmt: skip
    collect.add_argument("--nvml-module", default="pynvml", help=argparse.SUPPRESS)
    add_kafka_flag(collect, help="publish to Kafka at host:port[,...] instead of stdout")
    add_publish_flags(collect)
    collect.add_argument(
        "--hpc-job-mapping-dir",
        type=Path,
        metavar="DIR",
        help="with --metrics-port: hpc_job labels from files named by GPU index (dcgm-exporter's format); "
        "with --jobs-source mapping: the folder polled",
    )
    collect.add_argument(
        "--jobs-source",
        metavar="KIND",
        help="also poll this job source and publish its job messages: kubelet | mapping | slurm "
        "(collectors/jobs/registry.py; default: kubelet with --kubelet-socket, else none)",
    )
    collect.add_argument(
        "--kubelet-socket",
        metavar="PATH",
        help="also poll the kubelet pod-resources API on this socket (e.g. /var/lib/kubelet/pod-resources/kubelet.sock) "
        "and publish pods holding GPUs as job messages",
    )
    collect.add_argument(
        "--jobs-interval", type=positive_float, default=10.0, metavar="SEC",
        help="poll the job source every SEC, off the sample tick (default: %(default)s)",
    )  # fmt: skip
    add_format_flag(collect, default="json")  # the --kafka run's closing summary; samples are JSON lines
    collect.add_argument(
        "--metrics-host", default="0.0.0.0", metavar="ADDR", help="address /metrics listens on (default: %(default)s)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collectors.agent import Agent
    from collectors.base import create_source
    from pipeline.registry import MESSAGE_KINDS, TransportConfig, create_transport

    topology = node_topology(args, settings)
    _jobs_kind(args)
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
    run_ticks = None if args.duration is None else math.ceil(args.duration / args.interval)
    if not (args.once or args.events_for):
        exposition = _exposition(args.hpc_job_mapping_dir) if args.metrics_port is not None else None
        source = _with_jobs(source, args, settings, publishing=bool(args.kafka) or exposition is None)
        if args.kafka:
            return publish_to_kafka(source, settings, args, run_ticks, int(time.time() * 1000), exposition=exposition)
        if exposition is not None:
            return _export(source, exposition, args, run_ticks)
    ticks: int | None
    if args.once:
        messages, ticks = frozenset({"samples", "facility", "processes", "instance_activity"}), 1
    elif args.events_for:
        messages, ticks = frozenset({"events", "facility"}), math.ceil(args.events_for / args.interval)
    else:
        messages, ticks = MESSAGE_KINDS, run_ticks
    out = create_transport(TransportConfig("jsonl", stream=sys.stdout, messages=messages))
    from collectors.jobs.alongside import bind_job_publisher

    bind_job_publisher(source, out)
    Agent(source, out, args.interval, speed=0.0 if args.once else 1.0).run(ticks, int(time.time() * 1000))
    return 0


def _jobs_kind(args: argparse.Namespace) -> str | None:
    """The job source to poll inside the collector (`--jobs-source`; `--kubelet-socket` alone means kubelet)."""
    from collectors.jobs.registry import job_source

    kind: str | None = args.jobs_source or ("kubelet" if args.kubelet_socket else None)
    if kind is not None:
        job_source(kind)  # an unknown kind: exit 2 naming the valid ones, before any GPU is opened
    return kind


def _with_jobs(source: Source, args: argparse.Namespace, settings: Settings, publishing: bool) -> Source:
    """`source`, polling a job source beside it when asked (docs/jobs.md, "Kubernetes")."""
    kind = _jobs_kind(args)
    if kind is None:
        return source
    if not publishing:
        raise ConfigError(f"--jobs-source {kind}: job messages need --kafka (or stdout); /metrics alone carries no jobs")
    from collectors.jobs.alongside import PolledJobs
    from collectors.jobs.registry import DEFAULT_SOCKET, JobSourceConfig, create_job_source

    if kind == "kubelet":
        from gpufleet.app.extras import require

        require("grpc")  # now, as one line naming the extra, not in the poll thread's log

    def make_poll(inventory: list[Any]) -> Any:
        node = inventory[0].node if inventory else os.uname().nodename  # the label the samples carry
        config = JobSourceConfig(
            kind, settings.cluster, node, {g.uuid: g.gpu_index for g in inventory},
            kubelet_socket=args.kubelet_socket or DEFAULT_SOCKET, mapping_dir=args.hpc_job_mapping_dir,
        )  # fmt: skip
        return create_job_source(config)

    return PolledJobs(source, make_poll, args.jobs_interval, name=kind)


def _exposition(job_dir: Path | None) -> Any:
    from collectors.prometheus.exposition import GpuExposition
    from collectors.prometheus.jobs import HpcJobMapping

    return GpuExposition(job_labels=None if job_dir is None else HpcJobMapping(job_dir))


def _export(source: Any, exposition: Any, args: argparse.Namespace, ticks: int | None) -> int:
    """Serve the GPUs on /metrics only (dcgm-exporter's role): nothing on stdout."""
    from prometheus_client import CollectorRegistry

    from collectors.agent import Agent
    from collectors.prometheus.server import MetricsServer

    registry = CollectorRegistry()
    registry.register(exposition)
    agent = Agent(source, exposition, args.interval)
    registry.register(_agent_stats(agent))
    server = MetricsServer(registry, args.metrics_port, host=args.metrics_host, ready=exposition.ready)
    signal.signal(signal.SIGTERM, lambda _s, _f: agent.stop())
    try:
        agent.run(ticks, int(time.time() * 1000))
    finally:
        server.close()
    return 0


def _agent_stats(agent: Any) -> Any:
    from prometheus_client.core import CounterMetricFamily

    class AgentStats:
        def collect(self) -> Any:
            s = agent.stats
            yield CounterMetricFamily("gpufleet_collector_ticks", "Samples taken.", value=s.ticks)
            yield CounterMetricFamily("gpufleet_collector_sampled_rows", "GPU rows sampled.", value=s.rows)
            yield CounterMetricFamily("gpufleet_collector_late_ticks", "Ticks that started late.", value=s.late_ticks)
            yield CounterMetricFamily("gpufleet_collector_events", "GPU events (XIDs, lost GPUs) seen.", value=s.events)

    return AgentStats()
