"""The kubelet's pod-resources API served by a test double: gRPC service
`v1.PodResourcesLister` (List, Get, GetAllocatableResources) on a Unix socket, with the
proto3 messages of the kubelet's api.proto (field numbers in
shared/reference/jobs-slurm-and-kubelet.md). No kubelet can run here; this is the only double.

The messages are encoded with this module's own small proto3 writer, independent of the
decoder under test (collectors/jobs/kubelet.py), so the two meet only on the wire format.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _len_field(number, text.encode())


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


@dataclass
class Devices:
    resource_name: str
    device_ids: list[str]
    numa_node: int = 0

    def encode(self) -> bytes:
        topology = _len_field(1, _int(1, self.numa_node))  # TopologyInfo{nodes=[NUMANode{ID}]}
        return _str(1, self.resource_name) + b"".join(_str(2, d) for d in self.device_ids) + _len_field(3, topology)


@dataclass
class Claim:
    """A DRA DynamicResource with one ClaimResource."""

    claim_name: str
    driver_name: str
    device_name: str
    pool_name: str = "pool"

    def encode(self) -> bytes:
        resource = _len_field(1, _str(1, f"{self.driver_name}/device={self.device_name}"))  # CDIDevice
        resource += _str(2, self.driver_name) + _str(3, self.pool_name) + _str(4, self.device_name)
        return _str(2, self.claim_name) + _str(3, "default") + _len_field(4, resource)


@dataclass
class Container:
    name: str
    devices: list[Devices] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    cpu_ids: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        out = _str(1, self.name) + b"".join(_len_field(2, d.encode()) for d in self.devices)
        out += b"".join(_int(3, c) for c in self.cpu_ids)  # unpacked repeated int64: also valid proto3
        return out + b"".join(_len_field(5, c.encode()) for c in self.claims)


@dataclass
class PodResources:
    name: str
    namespace: str
    containers: list[Container]

    def encode(self) -> bytes:
        return _str(1, self.name) + _str(2, self.namespace) + b"".join(_len_field(3, c.encode()) for c in self.containers)


class PodResourcesDouble:
    """Serves `pods` (mutable between calls) on `socket_path`."""

    def __init__(self, socket_path: Path, pods: Sequence[PodResources] = ()) -> None:
        self.socket_path = socket_path
        self.pods = list(pods)
        self.calls = 0
        self._server: Any = None

    def _list(self, request: bytes, context: Any) -> bytes:
        self.calls += 1
        return b"".join(_len_field(1, p.encode()) for p in self.pods)

    def _get(self, request: bytes, context: Any) -> bytes:
        from collectors.jobs.kubelet import fields  # reading the request only

        wanted = {n: v.decode() for n, w, v in fields(request) if w == 2}
        for pod in self.pods:
            if pod.name == wanted.get(1) and pod.namespace == wanted.get(2):
                return _len_field(1, pod.encode())
        context.abort(grpc.StatusCode.NOT_FOUND, f"pod {wanted.get(2)}/{wanted.get(1)} not found")
        return b""

    def _allocatable(self, request: bytes, context: Any) -> bytes:
        devices = [d for p in self.pods for c in p.containers for d in c.devices]
        return b"".join(_len_field(1, d.encode()) for d in devices)

    def start(self) -> None:
        handlers = {
            "List": grpc.unary_unary_rpc_method_handler(self._list),
            "Get": grpc.unary_unary_rpc_method_handler(self._get),
            "GetAllocatableResources": grpc.unary_unary_rpc_method_handler(self._allocatable),
        }
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("v1.PodResourcesLister", handlers),))
        server.add_insecure_port(f"unix://{self.socket_path}")
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
