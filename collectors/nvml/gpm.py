"""GPM activity between two ticks: SM, tensor, DRAM and pipe activity without DCGM.

On Hopper and newer NVML's GPM API gives the figures dcgm-exporter's `DCGM_FI_PROF_*`
fields need a DCGM host engine for (and that conflict with profilers). Per GPU that
`nvmlGpmQueryDeviceSupport` says supports it, two GPM samples are allocated once and used
in turn: each tick fills the older one (`nvmlGpmSampleGet`) and asks `nvmlGpmMetricsGet`
for the metrics between it and the previous tick's. The request structure is built once
per GPU too (13 metric ids); a tick only swaps the two sample pointers.

Tolerance, as for every other read: a GPU without GPM has null GPM columns (never 0);
a metric whose own `nvmlReturn` is NOT_SUPPORTED is null and not asked again on that GPU;
a failed sample or metrics call nulls the columns for one tick; GPU_IS_LOST and a lost
driver are raised for the sampler to act on. Values are doubles (% or MiB/s) and become
whole numbers, rounded to nearest; one outside the column's range is a broken reading.
NVIDIA asks for >= 100 ms between two samples: only the first tick after `open` can come
sooner, and it waits out the rest.

A MIG GPU instance is read the same way through `open_instance`, its samples taken with
`nvmlGpmMigSampleGet(parent, gpuInstanceId, sample)`; an instance whose sampling NVML does
not support is not asked again (its columns stay null), other failures null one tick.
"""

from __future__ import annotations

import ctypes
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collectors.nvml.lib import SUCCESS, NvmlCallError, NvmlLib, Outcome, outcome_of
from gpufleet.contract.columns import GPM_METRICS, PCT_MAX

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.1
METRIC_IDS: tuple[int, ...] = tuple(GPM_METRICS)
COLUMNS: tuple[str, ...] = tuple(GPM_METRICS.values())
_HIGH = [PCT_MAX if c.endswith("_pct") else 2**32 - 1 for c in COLUMNS]
# c_nvmlGpmMetric_t as laid out in memory: read the answers of all metrics through one numpy
# view of the request (reading each through ctypes attribute access cost ~100 us per GPU).
METRIC_DTYPE = np.dtype([("metricId", "<u4"), ("nvmlReturn", "<u4"), ("value", "<f8"), ("metricInfo", "V24")])


@dataclass(slots=True)
class GpmState:
    """One GPU's GPM samples (previous, next) and its metrics request, reused every tick."""

    samples: list[Any]
    request: Any
    answers: np.ndarray | None = None  # numpy view of request.metrics[:n], when the layout matches
    taken_at: float = 0.0  # monotonic time of the previous sample; 0 = no previous sample
    unsupported: set[int] = field(default_factory=set)  # metric ids NVML said no to
    gpu_instance_id: int | None = None  # a MIG GPU instance of the GPU, sampled on its own
    disabled: bool = False  # NVML does not support sampling this instance: not asked again


class GpmReader:
    """The GPM metrics of GPUs through one `NvmlLib` (lost/reinit raised as `NvmlCallError`)."""

    def __init__(self, lib: NvmlLib) -> None:
        self.lib = lib
        self.available = all(hasattr(lib.module, n) for n in ("nvmlGpmSampleAlloc", "nvmlGpmMetricsGet", "c_nvmlGpmMetricsGet_t"))
        if not self.available:
            lib.note_missing("nvmlGpmMetricsGet")

    def open(self, handle: Any) -> GpmState | None:
        """Samples for the GPU behind `handle` and its first sample; None without GPM."""
        if not self.available:
            return None
        try:
            support = self.lib.call("nvmlGpmQueryDeviceSupport", handle)
            if not int(support.isSupportedDevice):
                return None
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            log.info("GPM unavailable on this GPU: %s", e)
            return None
        return self._open(handle, None)

    def open_instance(self, handle: Any, gpu_instance_id: int) -> GpmState | None:
        """Samples for MIG GPU instance `gpu_instance_id` of the GPU behind `handle` (whose
        GPM support the caller established with `open`), and its first sample."""
        return self._open(handle, gpu_instance_id) if self.available else None

    def _open(self, handle: Any, gpu_instance_id: int | None) -> GpmState | None:
        try:
            samples = [self.lib.call("nvmlGpmSampleAlloc"), self.lib.call("nvmlGpmSampleAlloc")]
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            log.info("GPM sample allocation failed: %s", e)
            return None
        request = self.lib.const("c_nvmlGpmMetricsGet_t")()
        request.version = self.lib.const("NVML_GPM_METRICS_GET_VERSION")
        request.numMetrics = len(METRIC_IDS)
        for i, metric_id in enumerate(METRIC_IDS):
            request.metrics[i].metricId = metric_id
        state = GpmState(samples, request, _answers_view(request), gpu_instance_id=gpu_instance_id)
        self._take(handle, state, state.samples[0])
        return state

    def _take(self, handle: Any, state: GpmState, sample: Any) -> bool:
        try:
            if state.gpu_instance_id is None:
                self.lib.call("nvmlGpmSampleGet", handle, sample)
            else:
                self.lib.call("nvmlGpmMigSampleGet", handle, state.gpu_instance_id, sample)
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            if e.outcome is Outcome.UNSUPPORTED and state.gpu_instance_id is not None:
                state.disabled = True
                log.info("GPM unavailable on MIG GPU instance %d: %s", state.gpu_instance_id, e)
            state.taken_at = 0.0
            return False
        state.taken_at = time.monotonic()
        return True

    def read(self, handle: Any, state: GpmState) -> tuple[list[int | None], int]:
        """This tick's GPM columns (in `COLUMNS` order) and how many failed transiently."""
        out: list[int | None] = [None] * len(COLUMNS)
        if state.disabled:
            return out, 0
        had_previous = state.taken_at > 0.0
        if had_previous:
            wait = MIN_INTERVAL_S - (time.monotonic() - state.taken_at)
            if wait > 0:
                time.sleep(wait)
        previous, current = state.samples
        if not self._take(handle, state, current):
            return out, 0 if state.disabled else len(COLUMNS)
        state.samples.reverse()  # the sample just taken is the next tick's previous one
        if not had_previous:
            return out, 0
        request = state.request
        request.sample1, request.sample2 = previous, current
        try:
            self.lib.call("nvmlGpmMetricsGet", request)
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            return out, len(COLUMNS)
        return out, self._decode(request, state, out)

    def _decode(self, request: Any, state: GpmState, out: list[int | None]) -> int:
        failed = 0
        if state.answers is not None:
            rets, values = state.answers["nvmlReturn"].tolist(), state.answers["value"].tolist()
        else:
            rets = [int(request.metrics[i].nvmlReturn) for i in range(len(METRIC_IDS))]
            values = [float(request.metrics[i].value) for i in range(len(METRIC_IDS))]
        unsupported = state.unsupported
        for i, metric_id in enumerate(METRIC_IDS):
            if unsupported and metric_id in unsupported:
                continue
            ret = rets[i]
            if ret != SUCCESS:
                if outcome_of(ret) is Outcome.UNSUPPORTED:
                    state.unsupported.add(metric_id)
                else:
                    failed += 1
                continue
            value = values[i]
            whole = round(value) if math.isfinite(value) else -1
            if 0 <= whole <= _HIGH[i]:
                out[i] = whole
            else:
                failed += 1
        return failed

    def close(self, state: GpmState) -> None:
        state.answers = None
        for sample in state.samples:
            try:
                self.lib.call("nvmlGpmSampleFree", sample)
            except NvmlCallError as e:
                log.debug("nvmlGpmSampleFree failed: %s", e)
        state.samples = []


def _answers_view(request: Any) -> np.ndarray | None:
    """A numpy view of the first `len(METRIC_IDS)` metrics of `request`, or None when the
    binding's c_nvmlGpmMetric_t is not laid out as METRIC_DTYPE (then ctypes is read)."""
    try:
        metric_type = type(request.metrics[0])
        offsets = [getattr(metric_type, name).offset for name in ("metricId", "nvmlReturn", "value", "metricInfo")]
        if offsets != [0, 4, 8, 16] or ctypes.sizeof(metric_type) != METRIC_DTYPE.itemsize:
            return None
        return np.frombuffer(request.metrics, dtype=METRIC_DTYPE, count=len(METRIC_IDS))
    except (AttributeError, TypeError, ValueError):
        return None
