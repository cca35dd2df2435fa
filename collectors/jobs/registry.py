"""The job sources by kind, like `collectors.base.SOURCES` and the transports.

A job source is a poll: `poll(now_ms)` returns the job messages since the last one. Each
factory imports its module lazily (grpc only for the kubelet). Both `gpufleet collect
--jobs-source KIND` (polled inside the collector) and `gpufleet jobs poll --kind KIND`
(standalone) pick one here; an unknown kind is a `ConfigError` listing the valid ones.
The Slurm Prolog/Epilog hooks are not polls (slurmd runs them once per job) and stay
subcommands of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.registry import lookup, make_registry

Poll = Callable[[int], list[JobAssignment]]
DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"


@dataclass(frozen=True, slots=True)
class JobSourceConfig:
    """What any job source may need; each kind reads the fields it uses."""

    kind: str
    cluster: str
    node: str
    index_of_uuid: Mapping[str, int] = field(default_factory=dict)  # kubelet: this node's GPUs
    kubelet_socket: str = DEFAULT_SOCKET
    mapping_dir: Path | None = None
    state_file: Path | None = None  # slurm: the reconciler's memory across restarts


@dataclass(frozen=True, slots=True)
class JobSourceFactory:
    kind: str
    help: str
    create: Callable[[JobSourceConfig], Poll]
    needs_inventory: bool = False  # maps GPU UUIDs to indices through the node's inventory


def _kubelet(config: JobSourceConfig) -> Poll:
    from collectors.jobs.kubelet import KubeletJobs, list_pods

    socket = config.kubelet_socket
    return KubeletJobs(config.cluster, config.node, config.index_of_uuid, lambda: list_pods(socket)).poll


def _mapping(config: JobSourceConfig) -> Poll:
    from collectors.jobs.mapping import MappingJobs

    if config.mapping_dir is None:
        raise ConfigError("job source 'mapping' needs its folder (--job-mapping-dir / --dir)")
    return MappingJobs(config.mapping_dir, config.cluster, config.node).poll


def _slurm(config: JobSourceConfig) -> Poll:
    from collectors.jobs.slurm import Reconciler, parse_squeue, squeue_json

    reconciler = Reconciler(config.cluster, state_file=config.state_file)
    return lambda now_ms: reconciler.observe(parse_squeue(squeue_json()), now_ms)


JOB_SOURCES = make_registry(
    "job source",
    [
        JobSourceFactory("kubelet", "the kubelet pod-resources API (pods holding GPUs)", _kubelet, needs_inventory=True),
        JobSourceFactory("mapping", "dcgm-exporter's --hpc-job-mapping-dir files", _mapping),
        JobSourceFactory("slurm", "squeue --json on the controller (the reconciler)", _slurm),
    ],
    key=lambda f: f.kind,
)


def job_source(kind: str) -> JobSourceFactory:
    """The factory of `kind`; `ConfigError` naming the valid kinds."""
    return lookup(JOB_SOURCES, "job source", kind)


def create_job_source(config: JobSourceConfig) -> Poll:
    return job_source(config.kind).create(config)
