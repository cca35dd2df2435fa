"""gpu_hour from the writer's gpu_minute rows, as gpu_hour_mv computed it from the same rows.

gpu_hour_mv (011, 012) read each gpu_minute insert block; with the minute rows computed by
the writer (`storage.rollups`), it was the dearest part of an insert: its four sumMap
histograms cost ~5 µs of CPU per minute row each in ClickHouse (40,000 minute rows of a
20,000-GPU batch: ~1 s, more than the raw insert; measured, docs/benchmarks.md). The same rows are
merged here: sums add, minima and maxima keep theirs (NULL when every minute is NULL),
bitmasks OR, and each `*_values` array becomes the histogram the view built from it,
`(sorted distinct values, how many of each)`.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from gpufleet.contract.frame import Categorical
from storage.rollups import Column, Values, saf

Index = npt.NDArray[np.intp]
_FUNCTION = re.compile(r"^SimpleAggregateFunction\((\w+), (.*)\)$")
HIST_TYPE = saf("sumMap", "Tuple(Array(UInt16), Array(UInt64))")
_VALUE_BITS = 16  # the histogram values are UInt16


def gpu_hour(rows: int, minute: list[Column], gpu: npt.NDArray[np.int64]) -> tuple[int, list[Column]]:
    """gpu_hour_mv's SELECT over the minute rows `minute` (sorted by GPU, then minute; `gpu` per row)."""
    columns = {name: data for name, _, data in minute}
    minutes = columns["minute"]
    assert isinstance(minutes, np.ndarray)
    hours = minutes - minutes % np.uint32(3600)
    change = np.ones(rows, dtype=np.bool_)
    change[1:] = (gpu[1:] != gpu[:-1]) | (hours[1:] != hours[:-1])
    starts = np.flatnonzero(change)
    hour_of_minute = np.cumsum(change) - 1
    out: list[Column] = [("hour", "DateTime('UTC')", hours[starts])]
    for name, ch_type, data in minute:
        if name == "minute":
            continue
        match = _FUNCTION.match(ch_type)
        if match is None:  # a key column: equal within the hour's rows
            out.append((name, ch_type, data.take(starts) if isinstance(data, Categorical) else _take(data, starts)))
        elif match[1] == "groupArrayArray":
            assert isinstance(data, tuple)
            out.append((name.removesuffix("_values") + "_hist", HIST_TYPE, _histograms(data, hour_of_minute, len(starts))))
        else:
            out.append((name, ch_type, _merge(match[1], data, starts)))
    return int(starts.shape[0]), out


def _take(data: Values | tuple[Values, ...], starts: Index) -> Values:
    assert isinstance(data, np.ndarray)
    return data[starts]


def _merge(function: str, data: Values | Categorical | tuple[Values, ...], starts: Index) -> Values | tuple[Values, ...]:
    if function == "sum":
        assert isinstance(data, np.ndarray)
        return np.add.reduceat(data, starts)
    assert isinstance(data, tuple)
    values, nulls = data
    all_null = np.logical_and.reduceat(nulls, starts)
    boolean = values.dtype == np.bool_
    if boolean:
        values = values.view(np.uint8)
    if function == "groupBitOr":
        merged = np.bitwise_or.reduceat(np.where(nulls, np.zeros(1, values.dtype), values), starts)
    elif function in ("min", "max"):
        info = np.iinfo(values.dtype)
        sentinel = info.max if function == "min" else info.min
        reduce = np.minimum if function == "min" else np.maximum
        merged = reduce.reduceat(np.where(nulls, np.full(1, sentinel, values.dtype), values), starts)
    else:
        raise ValueError(f"no merge for SimpleAggregateFunction({function}, ...)")
    merged = np.where(all_null, np.zeros(1, merged.dtype), merged)
    return (merged.view(np.bool_) if boolean else merged), all_null


def _histograms(arrays: tuple[Values, ...], hour_of_minute: npt.NDArray[np.int64], hours: int) -> tuple[Values, Values, Values]:
    """Per hour row: the distinct values of its minutes' arrays, ascending, and the count of each.

    Returned as (end offsets per hour row, values UInt16, counts UInt64), the two arrays of
    the histogram tuple sharing the offsets.
    """
    offsets, flat = arrays
    ends = offsets.astype(np.int64)
    lengths = ends - np.concatenate((np.zeros(1, np.int64), ends[:-1]))
    # 32-bit keys while the batch's hour rows fit in 16 bits (20,000-40,000 in a 500k-row
    # batch of 20,000 GPUs): the sort, most of the time here, moves half the bytes
    key_type = np.uint32 if hours <= 1 << (32 - _VALUE_BITS) else np.int64
    hour = np.repeat(hour_of_minute.astype(key_type), lengths)
    key = np.sort(hour << key_type(_VALUE_BITS) | flat.astype(key_type))
    if key.shape[0] == 0:
        empty = np.zeros(0, dtype=np.uint16)
        return np.zeros(hours, dtype=np.uint64), empty, np.zeros(0, dtype=np.uint64)
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(first, key.shape[0])).astype(np.uint64)
    distinct = key[first]
    per_hour = np.bincount(distinct >> _VALUE_BITS, minlength=hours)
    return np.cumsum(per_hour, dtype=np.uint64), (distinct & 0xFFFF).astype(np.uint16), counts
