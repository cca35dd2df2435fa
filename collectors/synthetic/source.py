"""The synthetic fleet as a `Source`: one `sample()` is one fleet tick."""

from __future__ import annotations

import time

from collectors.base import EventCallback, SourceConfig
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses


class SyntheticSource:
    """Samples `SyntheticFleet` at the timestamps the agent asks for.

    The fleet advances one interval per call; `ts_ms` is accepted for the protocol, and
    the frame carries the fleet's own clock (start + n × interval), which the agent set up.
    """

    def __init__(self, fleet: SyntheticFleet) -> None:
        self.fleet = fleet
        self._on_event: EventCallback = _drop

    def open(self, on_event: EventCallback) -> None:
        self._on_event = on_event

    def inventory(self) -> list[GpuInventory]:
        return self.fleet.inventory()

    def sample(self, ts_ms: int) -> GpuFrame:
        frame, events = self.fleet.tick()
        for event in events:
            self._on_event(event)
        return frame

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        return self.fleet.processes()

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        return []  # the synthetic fleet has no MIG GPUs

    def close(self) -> None:
        self._on_event = _drop


def _drop(_: GpuEvent) -> None:
    return None


def create(config: SourceConfig) -> SyntheticSource:
    if config.gpus <= 0:
        raise ConfigError(f"--gpus must be a positive number of GPUs, got {config.gpus!r}")
    start_ms = config.start_ms if config.start_ms is not None else int(time.time()) * 1000
    fleet = SyntheticFleet(
        n_gpus=config.gpus,
        seed=config.seed,
        scenario=load_scenario(config.scenario),
        start_ms=start_ms,
        interval_s=config.interval_s,
        run_s=config.run_s,
        cluster=config.cluster,
        first_node=config.first_node,
    )
    return SyntheticSource(fleet)
