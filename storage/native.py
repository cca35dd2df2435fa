"""Encode a `GpuFrame` as one ClickHouse Native-format block, with numpy only.

clickhouse-connect's column writer builds a Nullable column's null map with a Python loop
per value; on 30 Nullable columns that capped inserts at ~310k rows/s here, against
~860k rows/s for the same columns without Nullable (measured, docs/benchmarks.md). The
Native format is a documented, stable layout: per column a name, a type and the values
back to back, a Nullable column's values preceded by one null byte per row, a
LowCardinality column as a dictionary plus an index array. Every piece below is a numpy
buffer copy, and the block is sent with clickhouse-connect's `raw_insert`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gpufleet.contract.columns import LABEL_COLUMNS, METRIC_COLUMNS
from gpufleet.contract.frame import Categorical, GpuFrame
from storage.rollups import Column

_LOW_CARDINALITY_VERSION = 1
# LowCardinality index flags: HasAdditionalKeysBit (1 << 9) | NeedUpdateDictionary (1 << 10)
_LC_FLAGS = (1 << 9) | (1 << 10)

FRAME_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "DateTime64(3, 'UTC')"),
    *((name, "LowCardinality(String)") for name in LABEL_COLUMNS),
    ("gpu_index", "UInt8"),
    ("seq", "UInt64"),
    *((m.name, f"Nullable({m.ch_type})") for m in METRIC_COLUMNS),
)


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _leb128(len(raw)) + raw


def _strings(values: Sequence[str]) -> bytes:
    return b"".join(_string(v) for v in values)


_encoded_dictionaries: dict[int, tuple[list[str], bytes]] = {}


def _dictionary(values: list[str]) -> bytes:
    """The dictionary strings, encoded; cached per list because a fleet's frames share one.

    Categorical value lists are never mutated once built, so the identity check is enough.
    """
    cached = _encoded_dictionaries.get(id(values))
    if cached is not None and cached[0] is values:
        return cached[1]
    encoded = _strings(values)
    if len(_encoded_dictionaries) >= 64:
        _encoded_dictionaries.clear()
    _encoded_dictionaries[id(values)] = (values, encoded)
    return encoded


def _low_cardinality(column: Categorical) -> tuple[Buffer, ...]:
    """A LowCardinality(String) column: the dictionary, then one index per row.

    The whole dictionary goes out even if a filtered frame no longer uses every value:
    unused keys cost a few bytes and save sorting the codes.
    """
    keys, index = column.values, column.codes
    index_type = 0 if len(keys) < 1 << 8 else 1 if len(keys) < 1 << 16 else 2
    dtype = ("u1", "<u2", "<u4")[index_type]
    header = np.array([_LC_FLAGS | index_type, len(keys)], dtype="<u8").tobytes()
    rows = np.array([len(column.codes)], dtype="<u8").tobytes()
    return header, _dictionary(keys), rows, _buffer(index, dtype)


Buffer = bytes | memoryview


def encode_frame(frame: GpuFrame) -> list[Buffer]:
    """The frame as a Native block whose columns are `FRAME_COLUMNS`, in that order.

    Returns the block as a list of buffers (numpy memory, not copied) to be written in
    order; `b"".join(...)` gives the block as one bytes object.
    """
    parts: list[Buffer] = [_leb128(len(FRAME_COLUMNS)), _leb128(len(frame))]

    def column(name: str, ch_type: str, *payload: Buffer) -> None:
        parts.extend((_string(name), _string(ch_type), *payload))

    column("ts", FRAME_COLUMNS[0][1], _buffer(frame.ts_ms, "<i8"))
    lc_prefix = np.array([_LOW_CARDINALITY_VERSION], dtype="<u8").tobytes()
    for name in LABEL_COLUMNS:
        column(name, "LowCardinality(String)", lc_prefix, *_low_cardinality(frame.labels[name]))
    column("gpu_index", "UInt8", _buffer(frame.gpu_index, "u1"))
    column("seq", "UInt64", _buffer(frame.seq, "<u8"))
    no_nulls = np.zeros(len(frame), dtype=np.uint8).data
    for metric in METRIC_COLUMNS:
        mask = frame.nulls.get(metric.name)
        null_map = no_nulls if mask is None else _buffer(mask, "u1")
        values = _buffer(frame.metrics[metric.name], np.dtype(metric.dtype).newbyteorder("<"))
        column(metric.name, f"Nullable({metric.ch_type})", null_map, values)
    return parts


def _buffer(array: np.ndarray, dtype: npt.DTypeLike) -> memoryview:
    """The array's bytes in `dtype` (little-endian), without a copy when it already is."""
    return np.ascontiguousarray(array.astype(dtype, copy=False)).data.cast("B")


def frame_column_names() -> list[str]:
    return [name for name, _ in FRAME_COLUMNS]


# numpy layout of each fixed-width type a rollup block uses
_FIXED: dict[str, str] = {
    "UInt8": "u1", "UInt16": "<u2", "UInt32": "<u4", "UInt64": "<u8", "Int16": "<i2", "Int64": "<i8", "Bool": "u1",
    "DateTime('UTC')": "<u4", "DateTime64(3, 'UTC')": "<i8", "Float64": "<f8",
}  # fmt: skip
_ARRAY_PAIR = re.compile(r"^Tuple\(Array\((\w+)\), Array\((\w+)\)\)$")
_SAF = re.compile(r"^SimpleAggregateFunction\(\w+, (.*)\)$")


def encode_columns(rows: int, columns: Sequence[Column]) -> list[Buffer]:
    """A Native block of `rows` rows from `storage.rollups` columns (name, type, data).

    A SimpleAggregateFunction column is stored as its argument type. Data by type:
    `LowCardinality(String)` and `String` a `Categorical`; `Nullable(T)` (values, null mask);
    `Array(T)` (end offsets per row, flat values) - UInt64 offsets, then the values;
    `Tuple(Array(K), Array(V))` (end offsets per row, keys, values), the two arrays alike long.
    """
    parts: list[Buffer] = [_leb128(len(columns)), _leb128(rows)]
    lc_prefix = np.array([_LOW_CARDINALITY_VERSION], dtype="<u8").tobytes()
    for name, ch_type, data in columns:
        parts += (_string(name), _string(ch_type))
        inner = match[1] if (match := _SAF.match(ch_type)) else ch_type
        if inner == "LowCardinality(String)" and isinstance(data, Categorical):
            parts += (lc_prefix, *_low_cardinality(data))
        elif inner == "String" and isinstance(data, Categorical):
            parts.append(_plain_strings(data))
        elif inner.startswith("Nullable(") and isinstance(data, tuple):
            values, nulls = data
            parts += (_buffer(nulls, "u1"), _buffer(values, _FIXED[inner[9:-1]]))
        elif inner.startswith("Array(") and isinstance(data, tuple):
            offsets, flat = data
            parts += (_buffer(offsets, "<u8"), _buffer(flat, _FIXED[inner[6:-1]]))
        elif (pair := _ARRAY_PAIR.match(inner)) and isinstance(data, tuple):
            offsets, keys, values = data  # a Tuple is its elements' columns in turn
            parts += (
                _buffer(offsets, "<u8"),
                _buffer(keys, _FIXED[pair[1]]),
                _buffer(offsets, "<u8"),
                _buffer(values, _FIXED[pair[2]]),
            )
        elif isinstance(data, np.ndarray):
            parts.append(_buffer(data, _FIXED[inner]))
        else:
            raise TypeError(f"no Native encoding for column {name} {ch_type} from {type(data).__name__}")
    return parts


_encoded_strings: dict[int, tuple[list[str], npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}


def _plain_strings(column: Categorical) -> bytes:
    """A String column, row by row, gathered from the encoded dictionary with numpy.

    The encoded dictionary is cached per list, as in `_dictionary`: a fleet's 200,000 uuids
    are encoded once, not once per insert.
    """
    cached = _encoded_strings.get(id(column.values))
    if cached is None or cached[0] is not column.values:
        encoded = [_string(v) for v in column.values]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        if len(_encoded_strings) >= 16:
            _encoded_strings.clear()
        cached = (column.values, np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths, np.cumsum(lengths) - lengths)
        _encoded_strings[id(column.values)] = cached
    _, source, lengths, starts = cached
    row_lengths = lengths[column.codes]
    total = int(row_lengths.sum())
    out_starts = np.cumsum(row_lengths) - row_lengths
    index = np.arange(total, dtype=np.int64) + np.repeat(starts[column.codes] - out_starts, row_lengths)
    out: bytes = source[index].tobytes()
    return out


def categorical(strings: Sequence[str]) -> Categorical:
    """`strings` as codes into their distinct values, in order of first appearance."""
    index: dict[str, int] = {}
    codes = [index.setdefault(s, len(index)) for s in strings]
    return Categorical(np.array(codes, dtype=np.uint32), list(index))


def nullable(values: Sequence[int | None], dtype: npt.DTypeLike) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
    """A `Nullable` column's data for `encode_columns` from Python values, None as NULL."""
    nulls = np.fromiter((v is None for v in values), dtype=np.bool_, count=len(values))
    return np.fromiter((0 if v is None else v for v in values), dtype=dtype, count=len(values)), nulls
