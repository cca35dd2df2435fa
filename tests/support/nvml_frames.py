"""Reading the NVML source's frames in the unit tests of the source and of GPM."""

from __future__ import annotations

import numpy as np

from collectors.nvml.source import NvmlSource
from gpufleet.contract.frame import GpuFrame

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
