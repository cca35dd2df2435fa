"""`gpufleet jobs …`: the job sources (docs/jobs.md).

- `slurm-prolog` / `slurm-epilog`: run by slurmd; write one message to the node's spool and
  exit 0 within a bounded time, whatever happens.
- `forward`: publish the spool (run beside the collector on each Slurm node).
- `slurm-reconcile`: on the controller, poll `squeue --json` and heal missed starts and ends.
- `kubernetes`: on each Kubernetes GPU node, poll the kubelet's pod-resources API.
- `mapping`: read dcgm-exporter's `--hpc-job-mapping-dir` folder.
- `poll --kind KIND`: any polled job source by its kind in `collectors.jobs.registry`
  (kubelet, mapping, slurm); the three above are it with their kind fixed.

Without `--kafka` the messages are printed as JSON lines (what would be sent).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpufleet.app.commands.common import add_kafka_flag, positive_float
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.settings import Settings

DEFAULT_SPOOL = "/var/spool/gpufleet/jobs"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = sub.add_parser("jobs", help="job sources: Slurm hooks and reconciler, kubelet pod-resources, mapping files")
    which = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=type(jobs))
    for phase in ("prolog", "epilog"):
        hook = which.add_parser(f"slurm-{phase}", help=f"slurmd {phase.title()}: spool this job's {phase} (always exits 0)")
        hook.add_argument("--spool", default=DEFAULT_SPOOL, help="spool folder (default: %(default)s)")
        hook.add_argument("--node", help="gpufleet node label (default: SLURMD_NODENAME)")
        hook.add_argument("--timeout", type=positive_float, default=5.0, metavar="SEC", help="give up after SEC (default: 5)")
    fwd = which.add_parser("forward", help="publish the spooled job messages")
    fwd.add_argument("--spool", default=DEFAULT_SPOOL, help="spool folder (default: %(default)s)")
    rec = which.add_parser("slurm-reconcile", help="poll squeue --json on the controller; heal missed starts/ends")
    rec.add_argument("--state-file", type=Path, help="remember running jobs here across restarts")
    k8s = which.add_parser("kubernetes", help="poll the kubelet pod-resources API for pods holding GPUs")
    k8s.add_argument("--socket", default="/var/lib/kubelet/pod-resources/kubelet.sock", help="kubelet socket")
    k8s.add_argument("--node", help="gpufleet node label (default: this host's name)")
    k8s.add_argument("--source", default="nvml", help="where GPU UUIDs map to indices: nvml | synthetic (default: nvml)")
    mapping = which.add_parser("mapping", help="read dcgm-exporter's job-mapping folder (a file per GPU index)")
    mapping.add_argument("--dir", required=True, type=Path, help="the --hpc-job-mapping-dir folder")
    mapping.add_argument("--node", help="gpufleet node label (default: this host's name)")
    poll = which.add_parser("poll", help="poll a job source by kind: kubelet | mapping | slurm")
    poll.add_argument("--kind", required=True, help="the job source (collectors/jobs/registry.py)")
    poll.add_argument("--socket", default="/var/lib/kubelet/pod-resources/kubelet.sock", help="kubelet: its socket")
    poll.add_argument("--dir", type=Path, help="mapping: the --hpc-job-mapping-dir folder")
    poll.add_argument("--state-file", type=Path, help="slurm: remember running jobs here across restarts")
    poll.add_argument("--node", help="gpufleet node label (default: this host's name)")
    poll.add_argument("--source", default="nvml", help="kubelet: where GPU UUIDs map to indices: nvml | synthetic")
    for poller in (fwd, rec, k8s, mapping, poll):
        poller.add_argument("--interval", type=positive_float, default=10.0, metavar="SEC", help="poll every SEC (default: 10)")
        poller.add_argument("--once", action="store_true", help="one round, then exit")
        add_kafka_flag(poller, help="publish to Kafka at host:port[,...] (default: print JSON lines)")


KIND_OF_COMMAND = {"slurm-reconcile": "slurm", "kubernetes": "kubelet", "mapping": "mapping"}


def run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.jobs_command
    if command in ("slurm-prolog", "slurm-epilog"):
        return _hook(args, settings, "start" if command == "slurm-prolog" else "end")
    if command == "poll":
        from collectors.jobs.registry import job_source

        job_source(args.kind)  # an unknown kind: exit 2 naming the valid ones
    transport = _transport(args, settings)
    try:
        if command == "forward":
            from collectors.jobs.spool import Spool

            spool = Spool(Path(args.spool))

            def forward(_now_ms: int) -> list[JobAssignment]:
                spool.forward(transport)  # publishes and flushes itself; nothing left for the loop
                return []

            _loop(args, forward, transport)
        else:
            _loop(args, _poll(args, settings, command), transport)
    finally:
        transport.flush(30.0)
        transport.close()
    return 0


def _poll(args: argparse.Namespace, settings: Settings, command: str) -> Callable[[int], list[JobAssignment]]:
    """The job source of a subcommand (or `poll --kind`), from the registry."""
    from collectors.jobs.registry import JobSourceConfig, create_job_source, job_source

    kind = args.kind if command == "poll" else KIND_OF_COMMAND[command]
    node = getattr(args, "node", None) or os.uname().nodename
    config = JobSourceConfig(
        kind, settings.cluster, node,
        index_of_uuid=_uuid_indices(args, settings) if job_source(kind).needs_inventory else {},
        kubelet_socket=getattr(args, "socket", None) or "/var/lib/kubelet/pod-resources/kubelet.sock",
        mapping_dir=getattr(args, "dir", None), state_file=getattr(args, "state_file", None),
    )  # fmt: skip
    return create_job_source(config)


def _hook(args: argparse.Namespace, settings: Settings, phase: str) -> int:
    from collectors.jobs.slurm import run_hook
    from collectors.jobs.spool import Spool

    spool = Spool(Path(args.spool))
    return run_hook(phase, spool.put, settings.cluster, args.node, timeout_s=args.timeout)


def _transport(args: argparse.Namespace, settings: Settings) -> Any:
    from pipeline.registry import TransportConfig, create_transport

    if args.kafka or settings.kafka.bootstrap:
        return create_transport(TransportConfig("kafka", settings.kafka, args.kafka))
    return create_transport(TransportConfig("jsonl", stream=sys.stdout, messages=frozenset({"jobs"})))


def _uuid_indices(args: argparse.Namespace, settings: Settings) -> dict[str, int]:
    from collectors.base import SourceConfig, create_source

    source = create_source(SourceConfig(kind=args.source, cluster=settings.cluster, topology={"cluster": settings.cluster}))
    source.open(lambda _event: None)
    try:
        return {g.uuid: g.gpu_index for g in source.inventory()}
    finally:
        source.close()


def _loop(args: argparse.Namespace, poll: Callable[[int], list[JobAssignment]], transport: Any) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while True:
        changes = poll(int(time.time() * 1000))
        if changes:
            transport.publish_jobs(changes)
        if args.once or stop.wait(args.interval):
            return
