"""The NVML double and the NVML source's frames, for the unit tests of the source, GPM and MIG."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import collectors.nvml.double as nvml
from collectors.base import SourceConfig
from collectors.nvml.source import NvmlSource
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent

DOUBLE = "collectors.nvml.double"
# every GPUFLEET_NVML_DOUBLE_* variable the double reads (collectors.nvml.double_state)
DOUBLE_ENV = ("FAIL_INIT", "XIDS", "RECOVERY", "MIG", "UNSUPPORTED", "GPUS", "SEED", "STALL")


def clear_double_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The double as the environment leaves it when no GPUFLEET_NVML_DOUBLE_* is set."""
    for name in DOUBLE_ENV:
        monkeypatch.delenv(f"GPUFLEET_NVML_DOUBLE_{name}", raising=False)
    nvml.reset_to_env()


@contextmanager
def opened_source(mig: list[int]) -> Iterator[tuple[NvmlSource, list[GpuEvent]]]:
    """An NVML source open on the double, GPUs `mig` in MIG mode; yields it and its events."""
    nvml.reset(mig=mig)
    events: list[GpuEvent] = []
    source = NvmlSource(SourceConfig(kind="nvml", nvml_module=DOUBLE, interval_s=3600.0), event_wait_ms=20)
    source.open(events.append)
    try:
        yield source, events
    finally:
        source.close()
        nvml.reset()


TS = 1_767_225_600_000  # the double's fixed clock (collectors.nvml.double_state.START_MS)


def tick(src: NvmlSource, ts: int = TS) -> GpuFrame:
    """One refresh and one sample, as the agent's loop does."""
    assert src.refresher is not None
    src.refresher.refresh()
    return src.sample(ts)


def value(frame: GpuFrame, gpu: int, column: str) -> int | None:
    """GPU `gpu`'s `column` in `frame`; None where the frame says null."""
    row = int(np.flatnonzero(frame.gpu_index == gpu)[0])
    return None if frame.null_mask(column)[row] else int(frame.metrics[column][row])
