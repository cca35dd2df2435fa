"""One GPU's sweep: run its reads from the field table, apply the tolerance rules, return a row.

Per device the sampler keeps which reads NVML said it does not support, and a compiled
plan of the reads still worth asking (one field-value batch plus the calls). A read that
turns out unsupported is dropped from the plan and its column falls back, in the same tick,
to the next read the table lists for it. The cache lives on the `GpuState`, so a re-init
(driver reload) that builds new states asks everything again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from collectors.nvml.fields import READS, SLOW_COLUMNS, CallRead, FieldRead, _one
from collectors.nvml.gpm import COLUMNS as GPM_COLUMNS
from collectors.nvml.gpm import GpmReader, GpmState
from collectors.nvml.lib import ERROR_FUNCTION_NOT_FOUND, SUCCESS, NvmlCallError, NvmlLib, Outcome, outcome_of
from collectors.nvml.mig import MigInstance, read_instances
from gpufleet.contract.columns import METRIC_COLUMNS, PCT_COLUMNS, PCT_MAX, TEMP_COLUMNS, TEMP_MAX_C, TEMP_MIN_C

log = logging.getLogger(__name__)

COLUMN_INDEX: dict[str, int] = {m.name: i for i, m in enumerate(METRIC_COLUMNS)}
N_COLUMNS = len(METRIC_COLUMNS)
SLOW_INDEXES: tuple[int, ...] = tuple(sorted(COLUMN_INDEX[c] for c in SLOW_COLUMNS))
GPM_INDEXES: tuple[int, ...] = tuple(COLUMN_INDEX[c] for c in GPM_COLUMNS)


def _column_bounds() -> list[tuple[int, int]]:
    bounds = []
    for m in METRIC_COLUMNS:
        info = np.iinfo(cast(Any, np.uint8 if m.dtype is np.bool_ else m.dtype))
        lo, hi = int(info.min), int(info.max)
        if m.name in TEMP_COLUMNS:
            lo, hi = max(lo, TEMP_MIN_C), min(hi, TEMP_MAX_C)
        elif m.name in PCT_COLUMNS:
            hi = min(hi, PCT_MAX)
        elif m.dtype is np.bool_:
            lo, hi = 0, 1
        bounds.append((lo, hi))
    return bounds


# A value outside these is a broken reading (or a sentinel NVML did not flag): null, not
# a message the ingest would reject whole.
BOUNDS: list[tuple[int, int]] = _column_bounds()


class GpuLost(Exception):
    """NVML answered GPU_IS_LOST (or RESET_REQUIRED) for this GPU."""

    def __init__(self, cause: NvmlCallError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class NeedsReinit(Exception):
    """NVML lost its driver (uninitialised, driver not loaded, version mismatch)."""

    def __init__(self, cause: NvmlCallError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(slots=True)
class _Plan:
    field_ids: list[int | tuple[int, int]]
    field_reads: list[tuple[int, int, int, int]]  # read index, first result, count, column index
    calls: list[tuple[int, Callable[..., Any] | None, CallRead, list[tuple[int, int]]]]  # (pos, column)
    read_indexes: frozenset[int]


@dataclass(slots=True)
class GpuState:
    """What the collector knows about one GPU between ticks."""

    index: int
    handle: Any
    uuid: str
    mig: bool = False
    lost: bool = False
    unsupported: set[int] = field(default_factory=set)  # indexes into fields.READS
    plan: _Plan | None = None
    slow_plan: _Plan | None = None
    slow_row: list[int | None] = field(default_factory=lambda: [None] * N_COLUMNS)  # latest slow reads
    slow_error: NvmlCallError | None = None  # LOST/REINIT seen by the refresher, for the tick to act on
    failed_last_tick: int = 0  # transient field failures in the last sweep
    gpm: GpmState | None = None  # None: no GPM on this GPU (pre-Hopper, or not asked yet)
    recovery_action: int | None = None  # the driver's last known recovery action (field 230)
    instances: list[MigInstance] = field(default_factory=list)  # MIG GPU instances with GPM (MIG mode only)


class Sampler:
    """Reads rows for GPUs through one `NvmlLib`."""

    def __init__(self, lib: NvmlLib) -> None:
        self.lib = lib
        self.gpm = GpmReader(lib)
        self._fns: dict[str, Callable[..., Any] | None] = {}
        for read in READS:
            if isinstance(read, CallRead) and read.function not in self._fns:
                self._fns[read.function] = lib.bind(read.function)

    # ---- planning ------------------------------------------------------------------
    def plan(self, gpu: GpuState, slow: bool = False) -> _Plan:
        """The reads to run for `gpu` (the slow ones, or the others): for each column, the
        first read not known unsupported."""
        assigned: dict[int, int] = {}  # column index -> read index
        for i, read in enumerate(READS):
            if read.slow != slow or i in gpu.unsupported:
                continue
            if gpu.mig and isinstance(read, CallRead) and read.mig_unsupported:
                continue
            for column in read.columns:
                assigned.setdefault(COLUMN_INDEX[column], i)
        chosen = sorted(set(assigned.values()))
        plan = _Plan([], [], [], frozenset(chosen))
        for i in chosen:
            read = READS[i]
            if isinstance(read, FieldRead):
                plan.field_reads.append((i, len(plan.field_ids), len(read.field_ids), COLUMN_INDEX[read.column]))
                plan.field_ids.extend(read.request())
            else:
                targets = [(pos, COLUMN_INDEX[c]) for pos, c in enumerate(read.columns) if assigned[COLUMN_INDEX[c]] == i]
                plan.calls.append((i, self._fns[read.function], read, targets))
        if slow:
            gpu.slow_plan = plan
        else:
            gpu.plan = plan
        return plan

    # ---- one sweep -----------------------------------------------------------------
    def read(self, gpu: GpuState) -> list[int | None]:
        """One row of column values for `gpu` (None where unsupported or failed).

        Raises:
            GpuLost: the GPU fell off the bus; the caller stops sampling it.
            NeedsReinit: NVML itself needs `nvmlShutdown` + `nvmlInit`.
        """
        if gpu.slow_error is not None:  # the refresher met a lost GPU or a dead driver
            error, gpu.slow_error = gpu.slow_error, None
            self._fail(gpu, [], error)
        gpu.failed_last_tick = 0
        row = self._sweep(gpu, slow=False)
        slow_row = gpu.slow_row
        for c in SLOW_INDEXES:
            row[c] = slow_row[c]
        if gpu.gpm is not None:
            self._read_gpm(gpu, gpu.gpm, row)
        if gpu.instances:
            try:  # an instance's own failures stay in its values (and its failed_last_tick)
                read_instances(self.gpm, gpu.handle, gpu.instances)
            except NvmlCallError as e:
                self._fail(gpu, [], e)  # raises GpuLost or NeedsReinit
        return row

    def _read_gpm(self, gpu: GpuState, gpm: GpmState, row: list[int | None]) -> None:
        try:
            values, failed = self.gpm.read(gpu.handle, gpm)
        except NvmlCallError as e:
            self._fail(gpu, [], e)  # raises GpuLost or NeedsReinit
            return
        gpu.failed_last_tick += failed
        for c, value in zip(GPM_INDEXES, values, strict=True):
            row[c] = value

    def read_slow(self, gpu: GpuState) -> None:
        """Run the slow reads of `gpu` and keep their values for the next ticks (the
        refresher thread). LOST/REINIT are left in `gpu.slow_error` for the tick to act on."""
        try:
            gpu.slow_row = self._sweep(gpu, slow=True)
        except (GpuLost, NeedsReinit) as e:
            gpu.slow_error = e.cause

    def _sweep(self, gpu: GpuState, slow: bool) -> list[int | None]:
        row: list[int | None] = [None] * N_COLUMNS
        plan = (gpu.slow_plan if slow else gpu.plan) or self.plan(gpu, slow)
        newly_unsupported = self._run(gpu, plan, row, plan.read_indexes, slow)
        done = set(plan.read_indexes)
        while newly_unsupported:
            # fall back, in this same tick, to the next read for the columns that lost theirs
            plan = self.plan(gpu, slow)
            todo = plan.read_indexes - done
            if not todo:
                break
            done |= todo
            newly_unsupported = self._run(gpu, plan, row, todo, slow)
        return row

    def _run(self, gpu: GpuState, plan: _Plan, row: list[int | None], todo: frozenset[int] | set[int], slow: bool) -> bool:
        # The hot path of the collector (8 GPUs x ~15 calls per tick): locals and inlined
        # bounds checks rather than helper calls, measured in benchmarks/bench_collector_tick.py.
        before = len(gpu.unsupported)
        every = todo is plan.read_indexes
        field_reads = plan.field_reads if every else [fr for fr in plan.field_reads if fr[0] in todo]
        if field_reads:
            self._run_fields(gpu, plan, field_reads, row)
        handle, error_type, bounds = gpu.handle, self.lib.error_type, BOUNDS
        for i, fn, read, targets in plan.calls:
            if not every and i not in todo:
                continue
            if fn is None:
                gpu.unsupported.add(i)
                continue
            try:
                raw = fn(handle, *read.args)
            except error_type as e:
                self._fail(gpu, [i], NvmlCallError(read.function, self.lib.code_of(e), str(e)))
                continue
            if read.convert is _one:
                values: tuple[int | None, ...] = (int(raw),)
            else:
                values = read.convert(raw)
            for pos, column in targets:
                value = values[pos]
                if value is None:
                    continue
                lo, hi = bounds[column]
                if lo <= value <= hi:
                    row[column] = value
                else:
                    gpu.failed_last_tick += 1
        if len(gpu.unsupported) != before:
            if slow:
                gpu.slow_plan = None
            else:
                gpu.plan = None
            return True
        return False

    def _run_fields(
        self, gpu: GpuState, plan: _Plan, field_reads: list[tuple[int, int, int, int]], row: list[int | None]
    ) -> None:
        ids = plan.field_ids
        if len(field_reads) != len(plan.field_reads):  # a fallback pass asks only what it needs
            ids = [fid for i, start, count, _ in field_reads for fid in plan.field_ids[start : start + count]]
            field_reads = _renumber(field_reads)
        try:
            results = self.lib.field_values(gpu.handle, ids)
        except NvmlCallError as e:
            # the whole batch failed: every field read shares the verdict
            self._fail(gpu, [i for i, *_ in field_reads], e)
            return
        bounds = BOUNDS
        for i, start, count, column in field_reads:
            if count == 1:
                ret, value = results[start]
            else:
                ret, value = _sum(results[start : start + count])
            if ret != SUCCESS:
                self._fail(gpu, [i], NvmlCallError("nvmlDeviceGetFieldValues", ret, f"field read {READS[i].key}"))
                continue
            lo, hi = bounds[column]
            # None: NVML's "not available right now" sentinel
            if value is not None and lo <= value <= hi:
                row[column] = value
            else:
                gpu.failed_last_tick += 1

    def _fail(self, gpu: GpuState, reads: list[int], error: NvmlCallError) -> None:
        outcome = outcome_of(error.code)
        if outcome is Outcome.UNSUPPORTED:
            if error.code == ERROR_FUNCTION_NOT_FOUND:
                self.lib.note_missing(error.function)
            gpu.unsupported.update(reads)
            log.debug("gpu %d: %s unsupported", gpu.index, [READS[i].key for i in reads])
        elif outcome is Outcome.LOST:
            raise GpuLost(error)
        elif outcome is Outcome.REINIT:
            raise NeedsReinit(error)
        else:
            gpu.failed_last_tick += len(reads)


def _sum(results: list[tuple[int, int | None]]) -> tuple[int, int | None]:
    """A column that is the sum of several fields: the first failure, or the total."""
    total = 0
    for ret, value in results:
        if ret != SUCCESS or value is None:
            return ret, None
        total += value
    return SUCCESS, total


def _renumber(field_reads: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    out, start = [], 0
    for i, _, count, column in field_reads:
        out.append((i, start, count, column))
        start += count
    return out
