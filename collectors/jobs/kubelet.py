"""Kubernetes as a job source: the kubelet's pod-resources API, read on its own schedule.

The kubelet serves gRPC service `v1.PodResourcesLister` on the Unix socket
`/var/lib/kubelet/pod-resources/kubelet.sock` (mounted read-only into the collector's
DaemonSet, docs/jobs.md). `List` returns every pod's containers with their devices: with
NVIDIA's device plugin, resource `nvidia.com/gpu` (or `nvidia.com/mig-…`) and GPU UUIDs in
`device_ids`; with DRA, devices under `dynamic_resources`. This module polls `List` every
few seconds in its own thread (never on the sample tick, which dcgm-exporter's per-scrape
mapping showed costs cores on big nodes), diffs with the previous answer and publishes a
start for each pod that newly holds GPUs and an end for each that no longer does.

The messages are decoded here with a few lines of proto3 wire decoding (field numbers from
the API's `api.proto`, shared/reference/jobs-slurm-and-kubelet.md) rather than generated
stubs: grpcio is the only dependency (the `kubernetes` extra). The kubelet gives UUIDs; the
node's own inventory maps them to GPU indices, which is what samples are keyed by.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpufleet.contract.jobs import JobAssignment, JobGpu

log = logging.getLogger(__name__)
DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
LIST_METHOD = "/v1.PodResourcesLister/List"
GPU_RESOURCE = re.compile(r"^nvidia\.com/(gpu|mig-.+)$")
_DRA_GPU_NAME = re.compile(r"^gpu-(\d+)$")  # NVIDIA's DRA driver names whole GPUs gpu-<index>


# ---- proto3 wire decoding (only what List's response needs) ----------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; unknown fields are yielded too."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated length-delimited field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


@dataclass(frozen=True, slots=True)
class ContainerGpus:
    name: str
    uuids: tuple[str, ...]  # from device_ids (GPU-…, MIG-…)
    dra_names: tuple[str, ...] = ()  # DRA device names (e.g. gpu-0)


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    namespace: str
    containers: tuple[ContainerGpus, ...]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def decode_list_response(buf: bytes) -> list[Pod]:
    """ListPodResourcesResponse → pods with the GPUs of each container (others left out)."""
    pods = []
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            pods.append(_pod(value))
    return pods


def _embedded(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """The length-delimited fields of `buf` (strings, bytes, messages) as (number, bytes); the
    messages decoded here carry nothing else that matters."""
    for number, wire, value in fields(buf):
        if wire == 2:
            yield number, value


def _pod(buf: bytes) -> Pod:
    name = namespace = ""
    containers = []
    for number, value in _embedded(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            namespace = _text(value)
        elif number == 3:
            containers.append(_container(value))
    return Pod(name, namespace, tuple(containers))


def _container(buf: bytes) -> ContainerGpus:
    name, uuids, dra = "", [], []
    for number, value in _embedded(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            resource, ids = _devices(value)
            if GPU_RESOURCE.match(resource):
                uuids += ids
        elif number == 5:
            dra += _dynamic(value)
    return ContainerGpus(name, tuple(uuids), tuple(dra))


def _devices(buf: bytes) -> tuple[str, list[str]]:
    resource, ids = "", []
    for number, value in _embedded(buf):
        if number == 1:
            resource = _text(value)
        elif number == 2:
            ids.append(_text(value))
    return resource, ids


def _dynamic(buf: bytes) -> list[str]:
    """DynamicResource → the device names of its claim resources from a GPU driver."""
    names = []
    for number, value in _embedded(buf):
        if number == 4:
            driver = device = ""
            for n, v in _embedded(value):
                if n == 2:
                    driver = _text(v)
                elif n == 4:
                    device = _text(v)
            if device and "nvidia" in driver:
                names.append(device)
    return names


# ---- the client and the source ---------------------------------------------------------


def list_pods(socket_path: str = DEFAULT_SOCKET, timeout_s: float = 5.0) -> list[Pod]:
    """One `List` call over the kubelet's Unix socket. Raises OSError when it cannot answer."""
    import grpc

    with grpc.insecure_channel(f"unix://{socket_path}") as channel:
        call = channel.unary_unary(LIST_METHOD, request_serializer=None, response_deserializer=None)
        try:
            response: bytes = call(b"", timeout=timeout_s)
        except grpc.RpcError as exc:
            raise OSError(f"kubelet pod-resources List failed on {socket_path}: {exc.code()} {exc.details()}") from exc
    return decode_list_response(response)


@dataclass
class KubeletJobs:
    """Diffs successive `List` answers into job starts and ends for one node.

    Args:
        index_of_uuid: this node's GPU UUID → index (from the collector's inventory).
        lister: returns the pods (`list_pods` on the socket by default).
    """

    cluster: str
    node: str
    index_of_uuid: Mapping[str, int]
    lister: Callable[[], Sequence[Pod]] = list_pods
    held: dict[str, JobAssignment] = field(default_factory=dict)  # job id → its start message
    unmapped: int = 0  # devices whose UUID the inventory does not know (counted, logged once each)
    _logged: set[str] = field(default_factory=set)

    def _gpus(self, pod: Pod) -> list[JobGpu]:
        found: dict[int, str | None] = {}
        for container in pod.containers:
            for uuid in container.uuids:
                index = self.index_of_uuid.get(uuid)
                if index is None:
                    self._unmapped(uuid)
                else:
                    found[index] = uuid
            for name in container.dra_names:
                match = _DRA_GPU_NAME.match(name)
                if match:
                    found.setdefault(int(match[1]), None)
                else:
                    self._unmapped(name)
        return [JobGpu(gpu_index=i, uuid=u) for i, u in sorted(found.items())]

    def _unmapped(self, device: str) -> None:
        self.unmapped += 1
        if device not in self._logged:
            self._logged.add(device)
            log.warning("kubelet device not in this node's inventory", extra={"device": device})

    def poll(self, now_ms: int) -> list[JobAssignment]:
        current: dict[str, JobAssignment] = {}
        for pod in self.lister():
            gpus = self._gpus(pod)
            if not gpus:
                continue
            job_id = f"{pod.namespace}/{pod.name}"
            containers = ",".join(c.name for c in pod.containers if c.uuids or c.dra_names)
            current[job_id] = JobAssignment(
                ts_ms=now_ms, phase="start", source="kubernetes", cluster=self.cluster, node=self.node,
                job_id=job_id, account=pod.namespace, name=containers, gpus=gpus,
            )  # fmt: skip
        out = [m for j, m in current.items() if j not in self.held or self.held[j].gpus != m.gpus]
        for job_id, start in self.held.items():
            if job_id not in current:
                out.append(start.model_copy(update={"phase": "end", "ts_ms": now_ms, "start_ms": start.ts_ms}))
        self.held = {j: self.held[j] if j in self.held and self.held[j].gpus == m.gpus else m for j, m in current.items()}
        return out

    def run(self, publish: Callable[[list[JobAssignment]], None], interval_s: float, stop: threading.Event,
            clock: Callable[[], float]) -> None:  # fmt: skip
        """Poll every `interval_s` until `stop`; a kubelet that does not answer is retried next round."""
        while not stop.is_set():
            try:
                changes = self.poll(int(clock() * 1000))
                if changes:
                    publish(changes)
            except (OSError, ValueError) as exc:
                log.warning("kubelet poll failed", extra={"error": str(exc)[:300]})
            stop.wait(interval_s)
