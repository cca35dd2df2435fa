"""The `Source` seam: where samples are born (NVML on a real node, or the synthetic fleet).

A source covers one node (NVML, `collect --source synthetic`) or many (the synthetic fleet
behind `demo` and `emit`). The agent asks it for one frame per tick and gives it a callback
for events, so XIDs reach the transport when they happen rather than at the next tick.
Sources are picked by name from `SOURCES`; each factory imports its module lazily, so a
node without NVML can still run the synthetic source.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.registry import lookup, make_registry
from gpufleet.contract.schema import GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses

EventCallback = Callable[[GpuEvent], None]


class Source(Protocol):
    """Produces GPU samples, inventory and events.

    `open()` may raise `SourceUnavailable` (no driver, no devices). `sample()` never raises
    for a single failed metric: that metric is null in the frame. `close()` is safe to call
    before `open()` and more than once. Events may be delivered from another thread.
    """

    def open(self, on_event: EventCallback) -> None: ...

    def inventory(self) -> list[GpuInventory]: ...

    def sample(self, ts_ms: int) -> GpuFrame: ...

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        """The compute processes on each GPU now, one message per node; a GPU that cannot
        be asked is left out of the message's `gpus`."""
        ...

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        """The GPM activity of each MIG GPU instance as the last `sample()` measured it, one
        message per node; empty where no GPU is in MIG mode."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """What any source may need; each kind reads the fields it uses."""

    kind: str = "synthetic"
    gpus: int = 8
    seed: int = 0
    scenario: str = "none"
    start_ms: int | None = None
    interval_s: float = 1.0
    run_s: float = 3600.0
    cluster: str = "colossus"
    first_node: int = 0
    topology: dict[str, str] | None = None  # labels for a real node: cluster/hall/row/rack/node
    nvml_module: str = "pynvml"  # tests put the NVML double here (collectors.nvml.double)


@dataclass(frozen=True, slots=True)
class SourceFactory:
    kind: str
    module: str  # module with `create(config: SourceConfig) -> Source`
    summary: str

    def create(self, config: SourceConfig) -> Source:
        module = importlib.import_module(self.module)
        source: Source = module.create(config)
        return source


SOURCES = make_registry(
    "source kind",
    (
        SourceFactory("synthetic", "collectors.synthetic.source", "simulated H100/H200 fleet"),
        SourceFactory("nvml", "collectors.nvml.source", "this node's GPUs through NVML (nvidia-ml-py)"),
    ),
    lambda f: f.kind,
)


def create_source(config: SourceConfig) -> Source:
    return lookup(SOURCES, "source", config.kind).create(config)
