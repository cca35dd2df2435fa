"""The raw-reading rollups, computed from a `GpuFrame` with numpy (docs/storage.md "Rollup chain").

Until migration 014 three materialized views read every raw insert block: per GPU and
minute (`gpu_minute`), per rack and second (`power_rack_1s`) and the newest sample per GPU
(`gpu_latest_state`). The writer holds the same rows as numpy columns, so it computes the
same partial aggregates here and inserts them as small blocks into the same targets; the
chained views (gpu_hour, power_hall_1s, power_fleet_1s) read those blocks as before.

Each function gives exactly what the view's SELECT gave for the same block:
- `sum(ifNull(x, 0))`, `count(x)` (non-NULL), `min`/`max` of a Nullable column (NULL when
  every value of the group is NULL), `groupBitOr` (NULL when all NULL), `countIf(...)`
  (a NULL condition counts nothing), `groupArray(toUInt16(...))` skipping NULLs, in row order,
  where `greatest(t, 0)` makes a NULL temperature 0 (it ignores NULL arguments), so those count;
- the latest state: per (cluster, node, gpu_index) the row with the greatest ts, the first
  such row when several share it (argMax keeps the first maximum it meets).
A group is formed on label codes; two codes for one string (never made by `Categorical`)
would give two partial rows, which every reader merges (they aggregate GROUP BY the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gpufleet.contract.columns import GPM_COLUMNS, LABEL_COLUMNS, METRICS_BY_NAME, TOPOLOGY_LABELS
from gpufleet.contract.frame import Categorical, GpuFrame

Index = npt.NDArray[np.intp]
# A column of a rollup block: name, ClickHouse type, and its data; `Nullable` data is
# (values, null mask), `Array` data is (end offsets per row, flat values).
Values = np.ndarray
# `Tuple(Array(K), Array(V))` (a histogram) is (end offsets per row, keys, values).
Column = tuple[str, str, Values | Categorical | tuple[Values, ...]]

# gpu_minute (004, 011, 012): gauges keep sum/count/min/max, counters min/max.
GAUGES: Final = ("power_mw", "gpu_temp_c", "mem_temp_c", "util_gpu_pct", "sm_clock_mhz")
COUNTERS: Final = (
    "energy_mj", "ecc_corrected_count", "ecc_uncorrected_count", "pcie_replay_count", "nvlink_crc_errors",
    "nvlink_replay_errors", "nvlink_recovery_errors", "remapped_rows_uncorrectable",
)  # fmt: skip
ANY_FLAGS: Final = ("remap_pending", "remap_failure")
ACTIVITY_MIN_MAX: Final = ("sm_active_pct", "tensor_active_pct", "dram_active_pct")
# clocks-event reason classes counted per minute: column -> bitmask (004)
REASON_CLASSES: Final = {"thermal_samples": 0x60, "power_cap_samples": 0x04, "power_brake_samples": 0x80,
                         "hw_slowdown_samples": 0x08}  # fmt: skip
# the samples kept for quantiles: column prefix -> source metric (values as toUInt16 of the view's expression)
QUANTILE_VALUES: Final = {"power_w": "power_mw", "gpu_temp_c": "gpu_temp_c", "mem_temp_c": "mem_temp_c",
                          "util_gpu_pct": "util_gpu_pct"}  # fmt: skip
TEMPERATURE_VALUES: Final = ("gpu_temp_c", "mem_temp_c")
STALLED_UTIL_MIN_PCT: Final = 90
STALLED_SM_MAX_PCT: Final = 5
LATEST_METRICS: Final = (
    "power_mw", "gpu_temp_c", "mem_temp_c", "util_gpu_pct", "mem_used_mib", "sm_clock_mhz", "clocks_event_reasons",
    "pstate", "ecc_uncorrected_count", "remap_pending", "remap_failure", "recovery_action", "sm_active_pct",
    "tensor_active_pct", "dram_active_pct",
)  # fmt: skip
_LC = "LowCardinality(String)"


@dataclass(frozen=True, slots=True)
class Groups:
    """Rows sorted so that each group is contiguous: `order[starts[g]:ends[g]]` are group g's rows."""

    order: Index
    starts: Index
    sizes: npt.NDArray[np.int64]

    @property
    def first(self) -> Index:
        return self.order[self.starts]

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def _radix_key(parts: list[tuple[npt.NDArray[np.integer], int]]) -> npt.NDArray[np.int64]:
    """One int64 per row, equal exactly when every part is equal (`parts`: codes and their bound).

    Parts are packed mixed-radix; when the product of bounds would pass 2^62 the key so far
    is renumbered densely (np.unique) first, so any number of parts fits.
    """
    key = np.zeros(parts[0][0].shape[0], dtype=np.int64)
    bound = 1
    for codes, bound_of_part in parts:
        radix = max(int(bound_of_part), 1)
        if bound * radix >= 1 << 62:
            uniq, inverse = np.unique(key, return_inverse=True)
            key, bound = inverse.astype(np.int64).reshape(-1), int(uniq.shape[0])
        key = key * radix + codes.astype(np.int64)
        bound *= radix
    return key


def _group(key: npt.NDArray[np.int64]) -> Groups:
    # stable: rows of a group keep their frame order (groupArray's order, argMax's first)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1])))
    sizes = np.diff(np.append(starts, key.shape[0])).astype(np.int64)
    return Groups(order, starts, sizes)


def _label_parts(frame: GpuFrame, names: tuple[str, ...]) -> list[tuple[npt.NDArray[np.integer], int]]:
    return [(frame.labels[n].codes, len(frame.labels[n].values)) for n in names]


def _relative(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    low = int(values.min())
    rel = values - low
    return rel, int(rel.max()) + 1


class _Grouped:
    """Per-group reductions of one frame's columns, over a `Groups` ordering."""

    def __init__(self, frame: GpuFrame, groups: Groups) -> None:
        self.frame, self.groups = frame, groups
        # a column in group order, gathered once (the gathers are most of the time here)
        self._sorted: dict[str, tuple[np.ndarray, npt.NDArray[np.bool_] | None]] = {}
        self._counts: dict[str, npt.NDArray[np.uint64]] = {}

    def sorted(self, name: str) -> tuple[np.ndarray, npt.NDArray[np.bool_] | None]:
        if name not in self._sorted:
            mask = self.frame.nulls.get(name)
            order = self.groups.order
            self._sorted[name] = self.frame.metrics[name][order], None if mask is None else mask[order]
        return self._sorted[name]

    def count(self, name: str) -> npt.NDArray[np.uint64]:
        """count(x): the non-NULL values per group."""
        if name not in self._counts:
            mask = self.sorted(name)[1]
            if mask is None:
                self._counts[name] = self.groups.sizes.astype(np.uint64)
            else:
                self._counts[name] = np.add.reduceat((~mask).astype(np.uint64), self.groups.starts)
        return self._counts[name]

    def count_true(self, condition: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
        return np.add.reduceat(condition[self.groups.order].astype(np.uint64), self.groups.starts)

    def sum(self, name: str, dtype: type[np.integer]) -> np.ndarray:
        """sum(ifNull(x, 0)), exact in 64 bits."""
        values, mask = self.sorted(name)
        values = values.astype(dtype)
        if mask is not None:
            values[mask] = 0
        return np.add.reduceat(values, self.groups.starts)

    def extreme(self, name: str, largest: bool) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
        """min(x) or max(x) of a Nullable column: (values, null mask), NULL when the group has no value."""
        values, mask = self.sorted(name)
        if values.dtype == np.bool_:
            values = values.view(np.uint8)
        if mask is not None:
            info = np.iinfo(values.dtype)
            values = np.where(mask, info.min if largest else info.max, values)
        reduce = np.maximum if largest else np.minimum
        out = reduce.reduceat(values, self.groups.starts)
        nulls = self.count(name) == 0
        if METRICS_BY_NAME[name].dtype is np.bool_:
            out = out.view(np.bool_)
        return np.where(nulls, np.zeros(1, out.dtype), out), nulls

    def bit_or(self, name: str) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
        values, mask = self.sorted(name)
        if mask is not None:
            values = np.where(mask, np.zeros(1, values.dtype), values)
        return np.bitwise_or.reduceat(values, self.groups.starts), self.count(name) == 0

    def values_array(self, name: str, transform: np.ndarray, skip_nulls: bool) -> tuple[Values, Values]:
        """groupArray(toUInt16(expr)): (end offsets per group, flat values in group order).

        groupArray skips NULLs; with `skip_nulls` False the expression is never NULL (it
        turned each NULL into a value already, in `transform`).
        """
        mask = self.sorted(name)[1]
        flat = transform[self.groups.order]
        if mask is None or not skip_nulls:
            return np.cumsum(self.groups.sizes, dtype=np.uint64), flat
        return np.cumsum(self.count(name), dtype=np.uint64), flat[~mask]

    def keys(self, names: tuple[str, ...]) -> list[Column]:
        first = self.groups.first
        return [(n, _LC, self.frame.labels[n].take(first)) for n in names]


def _quantile_source(frame: GpuFrame, prefix: str) -> tuple[np.ndarray, bool]:
    """The view's toUInt16(...) of each row (wrapping as toUInt16 does), and whether a NULL row is skipped.

    Watts by intDiv (NULL stays NULL: skipped); temperatures by greatest(t, 0), which in
    ClickHouse (26.x) ignores a NULL argument, so a NULL temperature is the value 0, kept.
    """
    name = QUANTILE_VALUES[prefix]
    values = frame.metrics[name]
    if prefix == "power_w":
        return (values.astype(np.uint64) // 1000).astype(np.uint16), True
    if prefix in TEMPERATURE_VALUES:
        floored = np.maximum(values.astype(np.int64), 0).astype(np.uint16)
        return np.where(frame.null_mask(name), np.uint16(0), floored), False
    return values.astype(np.uint16), True


def saf(function: str, ch_type: str) -> str:
    return f"SimpleAggregateFunction({function}, {ch_type})"


def gpu_minute(frame: GpuFrame) -> tuple[int, list[Column], npt.NDArray[np.int64]]:
    """gpu_minute_mv's SELECT over `frame`: one row per (GPU labels, gpu_index, uuid, minute).

    Rows come sorted by GPU, then minute; also returns each row's GPU (an id, equal for the
    rows of one GPU), from which `storage.rollups_hour` forms the hours.
    """
    minutes = frame.ts_ms // 60_000
    rel, span = _relative(minutes)
    key = _radix_key([*_label_parts(frame, LABEL_COLUMNS), (frame.gpu_index, 256), (rel, span)])
    groups = _group(key)
    gpu = key[groups.first] // span  # the minute is the last radix digit
    g = _Grouped(frame, groups)
    first = groups.first
    columns: list[Column] = [("minute", "DateTime('UTC')", (minutes[first] * 60).astype(np.uint32))]
    columns += g.keys(LABEL_COLUMNS[:5])
    columns.append(("gpu_index", "UInt8", frame.gpu_index[first]))
    columns += g.keys(("uuid",))
    columns.append(("samples", saf("sum", "UInt64"), groups.sizes.astype(np.uint64)))
    for name in GAUGES:
        ch = METRICS_BY_NAME[name].ch_type
        signed = ch.startswith("Int")
        total = g.sum(name, np.int64 if signed else np.uint64)
        columns.append((f"{name}_sum", saf("sum", "Int64" if signed else "UInt64"), total))
        columns.append((f"{name}_count", saf("sum", "UInt64"), g.count(name)))
        columns.append((f"{name}_min", saf("min", f"Nullable({ch})"), g.extreme(name, largest=False)))
        columns.append((f"{name}_max", saf("max", f"Nullable({ch})"), g.extreme(name, largest=True)))
    for prefix in QUANTILE_VALUES:
        source, skip_nulls = _quantile_source(frame, prefix)
        arrays = g.values_array(QUANTILE_VALUES[prefix], source, skip_nulls)
        columns.append((f"{prefix}_values", saf("groupArrayArray", "Array(UInt16)"), arrays))
    columns.append(("reasons_seen", saf("groupBitOr", "Nullable(UInt64)"), g.bit_or("clocks_event_reasons")))
    reasons = frame.metrics["clocks_event_reasons"].astype(np.uint64)
    known = ~frame.null_mask("clocks_event_reasons")
    for column, bits in REASON_CLASSES.items():
        columns.append((column, saf("sum", "UInt64"), g.count_true(known & ((reasons & np.uint64(bits)) != 0))))
    for name in COUNTERS:
        ch = METRICS_BY_NAME[name].ch_type
        columns.append((f"{name}_min", saf("min", f"Nullable({ch})"), g.extreme(name, largest=False)))
        columns.append((f"{name}_max", saf("max", f"Nullable({ch})"), g.extreme(name, largest=True)))
    for name in ANY_FLAGS:
        columns.append((f"{name}_any", saf("max", "Nullable(Bool)"), g.extreme(name, largest=True)))
    for name in GPM_COLUMNS:
        columns.append((f"{name}_sum", saf("sum", "UInt64"), g.sum(name, np.uint64)))
        columns.append((f"{name}_count", saf("sum", "UInt64"), g.count(name)))
    for name in ACTIVITY_MIN_MAX:
        ch = METRICS_BY_NAME[name].ch_type
        columns.append((f"{name}_min", saf("min", f"Nullable({ch})"), g.extreme(name, largest=False)))
        columns.append((f"{name}_max", saf("max", f"Nullable({ch})"), g.extreme(name, largest=True)))
    util, sm = frame.metrics["util_gpu_pct"], frame.metrics["sm_active_pct"]
    stalled = (util >= STALLED_UTIL_MIN_PCT) & (sm <= STALLED_SM_MAX_PCT)
    stalled &= ~frame.null_mask("util_gpu_pct") & ~frame.null_mask("sm_active_pct")
    columns.append(("stalled_samples", saf("sum", "UInt64"), g.count_true(stalled)))
    columns.append(("recovery_action_max", saf("max", "Nullable(UInt8)"), g.extreme("recovery_action", largest=True)))
    return len(groups), columns, gpu


def power_rack_1s(frame: GpuFrame) -> tuple[int, list[Column]]:
    """power_rack_1s_mv's SELECT: per (cluster, hall, row, rack, second) power summed and GPUs with power counted."""
    seconds = frame.ts_ms // 1000
    rel, span = _relative(seconds)
    groups = _group(_radix_key([*_label_parts(frame, TOPOLOGY_LABELS[:4]), (rel, span)]))
    g = _Grouped(frame, groups)
    columns: list[Column] = [("ts", "DateTime('UTC')", seconds[groups.first].astype(np.uint32))]
    columns += g.keys(TOPOLOGY_LABELS[:4])
    columns.append(("power_mw", saf("sum", "UInt64"), g.sum("power_mw", np.uint64)))
    columns.append(("power_instant_mw", saf("sum", "UInt64"), g.sum("power_instant_mw", np.uint64)))
    columns.append(("gpus", saf("sum", "UInt64"), g.count("power_mw")))
    return len(groups), columns


def gpu_latest_state(frame: GpuFrame) -> tuple[int, list[Column]]:
    """gpu_latest_state_mv's SELECT: per (cluster, node, gpu_index) the first row holding the greatest ts."""
    rel, span = _relative(frame.ts_ms)
    gpu = _radix_key([*_label_parts(frame, ("cluster", "node")), (frame.gpu_index, 256)])
    # Sorted by (gpu, ts), stable, over the rows reversed: a group's last row has the
    # greatest ts and, among rows sharing it, the earliest in frame order.
    n = len(frame)
    order = np.argsort(_radix_key([(gpu[::-1], int(gpu.max()) + 1), (rel[::-1], span)]), kind="stable")
    by_gpu = gpu[::-1][order]
    ends = np.flatnonzero(np.append(by_gpu[1:] != by_gpu[:-1], True))
    pick = np.sort(n - 1 - order[ends])  # in frame order, like the view's output
    columns: list[Column] = [
        ("cluster", _LC, frame.labels["cluster"].take(pick)),
        ("node", _LC, frame.labels["node"].take(pick)),
        ("gpu_index", "UInt8", frame.gpu_index[pick]),
        ("ts", "DateTime64(3, 'UTC')", frame.ts_ms[pick]),
        *((name, _LC, frame.labels[name].take(pick)) for name in ("hall", "row", "rack")),
        ("uuid", "String", frame.labels["uuid"].take(pick)),
    ]
    for name in LATEST_METRICS:
        mask = frame.null_mask(name)[pick]
        columns.append((name, f"Nullable({METRICS_BY_NAME[name].ch_type})", (frame.metrics[name][pick], mask)))
    return int(pick.shape[0]), columns
