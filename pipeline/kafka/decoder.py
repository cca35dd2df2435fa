"""Decode many Kafka messages into one `GpuFrame` at once, and say why the rest were refused.

The hot path: join a batch of node-message values into one JSON array and decode it with
msgspec in a single call, then stream every GPU's metric values (`attrgetter`) straight into
one int64 buffer (`np.fromiter`): no list of per-GPU tuples, no per-field Python loop.
Batches with nulls take one float64 conversion (None becomes NaN: the null mask) while every
value is below 2**53, where float64 is exact. Measured against Apache Arrow's JSON reader
(docs/benchmarks.md, Kafka pipeline, "Issue 17"): msgspec's parse plus every column is
faster than Arrow's parse alone, so the GPUs pass through msgspec structs (built in C)
rather than Arrow columns. Anything msgspec refuses is decoded again alone, and pydantic —
the schema of record — decides: it accepts what msgspec's strictness refused (e.g. `"5"`
for 5) and explains what it rejects. Cross-field rules run on the frame, vectorised
(`check_frame`). Events and inventory are few and go through pydantic directly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import chain
from operator import attrgetter
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from gpufleet.contract.columns import METRIC_COLUMNS, TOPOLOGY_LABELS
from gpufleet.contract.frame import Categorical, GpuFrame, check_frame
from gpufleet.contract.schema import NodeSample
from gpufleet.contract.times import TimeWindow
from pipeline.kafka.structs import NodeSampleStruct

DEFAULT_MAX_MESSAGE_BYTES: Final = 256 * 1024  # a 64-GPU node message is ~25 KB
_one = msgspec.json.Decoder(NodeSampleStruct)
_many = msgspec.json.Decoder(list[NodeSampleStruct])  # type: ignore[valid-type]
_metrics_of = attrgetter(*(m.name for m in METRIC_COLUMNS))
_FLOAT64_EXACT: Final = float(2**53)


@dataclass(frozen=True, slots=True)
class Refused:
    """Message `index` of the batch could not be stored, for `reason`."""

    index: int
    reason: str


def decode_samples(
    values: Sequence[bytes],
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    window: TimeWindow | None = None,
    streamed: bool = True,
) -> tuple[GpuFrame, list[Refused]]:
    """Node-sample message values → one frame of every valid message's GPUs, plus refusals.

    A message is refused whole (as pydantic would) when any of its GPUs is invalid, and,
    given a `window`, when its `ts_ms` is outside it. `streamed=False` builds the metric
    columns the way issue 4 did (a tuple per GPU, then one conversion): the benchmark's
    baseline, same frame.
    """
    refused = [_size_refusal(i, len(v), max_message_bytes) for i, v in enumerate(values) if not 0 < len(v) <= max_message_bytes]
    small = [i for i, v in enumerate(values) if 0 < len(v) <= max_message_bytes] if refused else list(range(len(values)))
    structs, indices, more = _decode_structs(values, small)
    refused += more
    if window is not None:
        structs, indices, more = _in_window(structs, indices, window)
        refused += more
    try:
        frame = _columns(structs, streamed)
    except OverflowError:  # a UInt64 value above 2**64-1 (msgspec cannot bound it): let pydantic sort them
        structs, indices, more = _decode_with_pydantic(values, structs, indices)
        refused += more
        frame = _columns(structs, streamed)
    frame, more = _check(frame, structs, indices)
    refused += more
    refused.sort(key=lambda r: r.index)
    return frame, refused


def _size_refusal(index: int, size: int, max_message_bytes: int) -> Refused:
    return Refused(index, f"oversized: {size} bytes > {max_message_bytes}" if size else "empty message: 0 bytes")


def _in_window(structs: list[Any], indices: list[int], window: TimeWindow) -> tuple[list[Any], list[int], list[Refused]]:
    ts = np.fromiter((s.ts_ms for s in structs), dtype=np.int64, count=len(structs))
    outside = window.outside(ts)
    if not outside.any():
        return structs, indices, []
    now_ms = int(time.time() * 1000)
    refused = [Refused(indices[m], f"out of time window: {window.reason(int(ts[m]), now_ms)}") for m in np.flatnonzero(outside)]
    keep = np.flatnonzero(~outside).tolist()
    return [structs[m] for m in keep], [indices[m] for m in keep], refused


def _check(frame: GpuFrame, structs: list[Any], indices: list[int]) -> tuple[GpuFrame, list[Refused]]:
    """`check_frame` with each message as its own key: it groups rows by (node, ts), and two
    copies of one message (a producer retry) must not look like one message with duplicate GPUs."""
    if not structs:
        return frame, []
    counts = [len(s.gpus) for s in structs]
    message = np.repeat(np.arange(len(structs), dtype=np.uint32), counts)
    probe = replace(frame, labels={**frame.labels, "node": Categorical(message, [str(i) for i in range(len(structs))])})
    _, rejected = check_frame(probe)
    if not rejected:
        return frame, []
    bad = {int(r.node): r.reason for r in rejected}
    keep = np.flatnonzero(~np.isin(message, np.fromiter(bad, dtype=np.uint32, count=len(bad))))
    return frame.take(keep), [Refused(indices[m], reason) for m, reason in bad.items()]


def _decode_structs(values: Sequence[bytes], indices: list[int]) -> tuple[list[Any], list[int], list[Refused]]:
    if not indices:
        return [], [], []
    parts = [values[i] for i in indices]
    # The brackets go on the end messages, not around the joined batch: one copy of ~40 MB, not three.
    parts[0] = b"[" + parts[0]
    parts[-1] += b"]"  # after the line above: a single message gets both
    try:
        structs = _many.decode(b",".join(parts))
        # A value such as `{..},{..}` would add two elements; the count check catches it.
        if len(structs) == len(indices):
            return structs, indices, []
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError:
        pass
    kept: list[Any] = []
    kept_at: list[int] = []
    refused: list[Refused] = []
    for i in indices:
        struct, reason = decode_one(values[i])
        if struct is None:
            refused.append(Refused(i, reason))
        else:
            kept.append(struct)
            kept_at.append(i)
    return kept, kept_at, refused


def _decode_with_pydantic(
    values: Sequence[bytes], structs: list[Any], indices: list[int]
) -> tuple[list[Any], list[int], list[Refused]]:
    kept: list[Any] = []
    kept_at: list[int] = []
    refused: list[Refused] = []
    for struct, i in zip(structs, indices, strict=True):
        try:
            NodeSample.model_validate_json(values[i])
        except ValidationError as exc:
            refused.append(Refused(i, validation_reason(exc)))
            continue
        kept.append(struct)
        kept_at.append(i)
    return kept, kept_at, refused


def decode_one(value: bytes) -> tuple[Any, str]:
    """One node message: (struct, "") when valid by the wire schema's field rules, else (None, reason)."""
    try:
        return _one.decode(value), ""
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    try:
        model = NodeSample.model_validate_json(value)
    except ValidationError as exc:
        return None, validation_reason(exc)
    return msgspec.convert(model.model_dump(by_alias=True), NodeSampleStruct), ""


def validation_reason(exc: ValidationError) -> str:
    """pydantic's first complaint as one short line: malformed JSON, unknown schema, or the bad field."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "json_invalid":
        return f"malformed JSON: {err['msg']}"[:300]
    if loc == "schema" and err["type"] == "literal_error":
        return f"unknown schema {err.get('input')!r}: {err['msg']}"[:300]
    return f"invalid {loc or 'message'}: {err['msg']} (got {err.get('input')!r})"[:300]


def decode_models(
    values: Sequence[bytes],
    model: type[BaseModel],
    max_message_bytes: int,
    window: TimeWindow | None = None,
    check_age: bool = True,
) -> tuple[list[Any], list[Refused]]:
    """Events, inventory, facility readings: pydantic per message (a few per second fleet-wide).

    Given a `window`, a message whose `ts_ms` is outside it is refused; `check_age=False`
    checks only the future bound (inventory: a GPU's record may be as old as the GPU).
    """
    out: list[Any] = []
    refused: list[Refused] = []
    now_ms = int(time.time() * 1000)
    for i, value in enumerate(values):
        if not 0 < len(value) <= max_message_bytes:
            refused.append(_size_refusal(i, len(value), max_message_bytes))
            continue
        try:
            item = model.model_validate_json(value)
        except ValidationError as exc:
            refused.append(Refused(i, validation_reason(exc)))
            continue
        late = window.reason(item.ts_ms, now_ms, check_age) if window is not None else ""  # type: ignore[attr-defined]
        if late:
            refused.append(Refused(i, f"out of time window: {late}"))
        else:
            out.append(item)
    return out, refused


def _columns_with_nulls(table: list[tuple[Any, ...]], metrics: dict[str, np.ndarray], nulls: dict[str, np.ndarray]) -> None:
    objects = np.array(table, dtype=object).reshape(len(table), len(METRIC_COLUMNS))
    null: npt.NDArray[np.bool_] = np.asarray(objects == None, dtype=np.bool_)  # noqa: E711 (elementwise, not identity)
    objects[null] = 0
    for i, spec in enumerate(METRIC_COLUMNS):
        metrics[spec.name] = objects[:, i].astype(spec.dtype)  # OverflowError above uint64: the caller asks pydantic
        if null[:, i].any():
            nulls[spec.name] = np.ascontiguousarray(null[:, i])


def _categorical(values: list[str]) -> Categorical:
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return Categorical(np.asarray(codes, dtype=np.uint32), list(index))


def _columns(structs: list[Any], streamed: bool = True) -> GpuFrame:
    if not structs:
        return GpuFrame.empty()
    counts = np.fromiter((len(s.gpus) for s in structs), dtype=np.int64, count=len(structs))
    gpus = [g for s in structs for g in s.gpus]
    labels = {}
    for name in TOPOLOGY_LABELS:
        per_message = _categorical([getattr(s, name) for s in structs])
        labels[name] = Categorical(np.repeat(per_message.codes, counts), per_message.values)
    labels["uuid"] = _categorical([g.uuid for g in gpus])
    metrics, nulls = _metric_columns(gpus) if streamed else _metric_columns_from_table(gpus)
    return GpuFrame(
        ts_ms=np.repeat(np.fromiter((s.ts_ms for s in structs), dtype=np.int64, count=len(structs)), counts),
        seq=np.repeat(np.array([s.seq for s in structs], dtype=np.uint64), counts),
        gpu_index=np.fromiter((g.gpu_index for g in gpus), dtype=np.uint8, count=len(gpus)),
        labels=labels,
        metrics=metrics,
        nulls=nulls,
    )


def _metric_columns(gpus: list[Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every GPU's metrics into one int64 buffer in one C pass, then a cast per column.

    msgspec already enforced every bound that fits int64, so the casts are exact. A null
    (TypeError) or a UInt64 value above int64 (OverflowError) takes the float64 path.
    """
    n, k = len(gpus), len(METRIC_COLUMNS)
    try:
        wide = np.fromiter(chain.from_iterable(map(_metrics_of, gpus)), dtype=np.int64, count=n * k).reshape(n, k)
    except (TypeError, OverflowError):
        return _metric_columns_with_nulls(list(map(_metrics_of, gpus)))
    return {spec.name: wide[:, i].astype(spec.dtype) for i, spec in enumerate(METRIC_COLUMNS)}, {}


def _metric_columns_with_nulls(table: list[tuple[Any, ...]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """float64 takes None as NaN in the same single conversion; exact below 2**53 (counters
    and bitmasks above it are rare: the object-array path takes those batches)."""
    metrics: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    wide = np.array(table, dtype=np.float64).reshape(len(table), len(METRIC_COLUMNS))
    if (wide >= _FLOAT64_EXACT).any():  # NaN compares False: nulls do not count
        _columns_with_nulls(table, metrics, nulls)
        return metrics, nulls
    null = np.isnan(wide)
    wide[null] = 0
    for i, spec in enumerate(METRIC_COLUMNS):
        metrics[spec.name] = wide[:, i].astype(spec.dtype)
        if null[:, i].any():
            nulls[spec.name] = np.ascontiguousarray(null[:, i])
    return metrics, nulls


def _metric_columns_from_table(gpus: list[Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Issue 4's column build: a tuple per GPU, one int64 conversion, object arrays for nulls."""
    metrics: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    table = list(map(_metrics_of, gpus))  # one C call per GPU
    try:
        wide = np.array(table, dtype=np.int64).reshape(len(gpus), len(METRIC_COLUMNS))
        for i, spec in enumerate(METRIC_COLUMNS):
            metrics[spec.name] = wide[:, i].astype(spec.dtype)
    except (TypeError, OverflowError):
        _columns_with_nulls(table, metrics, nulls)
    return metrics, nulls
