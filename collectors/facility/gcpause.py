"""Collect reference cycles between batches rather than whenever the heap has grown.

CPython's automatic collector runs a full collection each time the objects surviving its
young generations add up to a quarter of the old one. A bridge holds tens of thousands of
readings between receiving and writing, all of which survive the young generations, so a
full pass (30-100 ms over a few hundred thousand objects) came every few thousand readings:
a quarter of the bridge's time in the drain benchmark (docs/benchmarks.md, "Facility
bridge"). Readings, messages and batches form no cycles (reference counting frees them), so
while the bridge runs the automatic collector is off, and the write loop collects the young
generations after each batch and everything every `full_every_s`.
"""

from __future__ import annotations

import gc
import time
from types import TracebackType


class CollectBetweenBatches:
    """Context manager: automatic GC off inside (restored on exit); call `collect()` often."""

    def __init__(self, full_every_s: float = 30.0) -> None:
        self.full_every_s = full_every_s
        self._was_enabled = False
        self._last_full_s = 0.0

    def __enter__(self) -> CollectBetweenBatches:
        self._was_enabled = gc.isenabled()
        self._last_full_s = time.monotonic()
        gc.disable()
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        if self._was_enabled:
            gc.enable()

    def collect(self) -> None:
        """The young generations, or every generation once `full_every_s` has passed."""
        now = time.monotonic()
        if now - self._last_full_s >= self.full_every_s:
            gc.collect()
            self._last_full_s = now
        else:
            gc.collect(1)
