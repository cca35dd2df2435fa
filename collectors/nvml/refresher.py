"""The slow reads' own thread, so a tick never waits on them.

Some NVML queries block in the driver for milliseconds (`nvmlDeviceGetPcieThroughput`
samples a 20 ms window; the energy counter took ~3 ms, p99 15 ms on an H200). Sweeping
eight GPUs' worth of those inside the tick would take ~0.4 s, far over the 10 ms budget.
The refresher runs them once per interval on a daemon thread; the tick publishes the
latest values (at most one interval old). ctypes releases the GIL while the driver
blocks, so the sampling thread keeps running meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from collectors.nvml.sampler import GpuState, Sampler

log = logging.getLogger(__name__)


class SlowRefresher:
    """Runs `Sampler.read_slow` for every GPU every `interval_s` seconds."""

    def __init__(self, sampler: Sampler, gpus: Sequence[GpuState], interval_s: float) -> None:
        self.sampler = sampler
        self.gpus = list(gpus)
        self.interval_s = interval_s
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """One sweep of the slow reads, on the calling thread."""
        for gpu in self.gpus:
            if not gpu.lost:
                self.sampler.read_slow(gpu)
        self.sweeps += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nvml-slow-reads", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except Exception:  # keep refreshing: one bad sweep must not freeze these columns
                log.exception("slow NVML reads failed")

    def stop(self) -> None:
        """Stop the thread (waits for a sweep in progress); safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
