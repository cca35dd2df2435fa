"""Columnar batches of GPU samples: how samples travel in bulk.

A `GpuFrame` is one numpy array per column plus a null mask where a column has nulls.
String labels are categorical (codes into a small list of values) because a node's eight
rows share them and a fleet tick repeats them 200,000 times. The synthetic fleet produces
frames directly, the Kafka decoder builds them from many node messages at once, and the
store writes them as one columnar insert. `NodeSample` messages convert to and from frames
here, so the wire model and the columns cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gpufleet.contract.columns import (
    LABEL_COLUMNS,
    METRIC_COLUMNS,
    METRICS_BY_NAME,
    PCT_COLUMNS,
    PCT_MAX,
    POWER_LIMIT_FACTOR,
    TEMP_COLUMNS,
    TEMP_MAX_C,
    TEMP_MIN_C,
    TOPOLOGY_LABELS,
)
from gpufleet.contract.schema import NODE_SAMPLE_SCHEMA, GpuSample, NodeSample

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Categorical:
    """Strings as codes into `values`; `values[codes[i]]` is row i's string."""

    codes: npt.NDArray[np.uint32]
    values: list[str]

    def take(self, rows: npt.NDArray[np.intp]) -> Categorical:
        return Categorical(self.codes[rows], self.values)

    def to_list(self) -> list[str]:
        values = self.values
        return [values[c] for c in self.codes.tolist()]

    @staticmethod
    def concat(parts: Sequence[Categorical]) -> Categorical:
        if len(parts) == 1:
            return parts[0]
        if all(p.values is parts[0].values for p in parts):  # slices of one frame: codes agree
            return Categorical(np.concatenate([p.codes for p in parts]), parts[0].values)
        index: dict[str, int] = {}
        values: list[str] = []
        chunks = []
        for part in parts:
            remap = np.empty(len(part.values), dtype=np.uint32)
            for i, v in enumerate(part.values):
                code = index.get(v)
                if code is None:
                    code = index[v] = len(values)
                    values.append(v)
                remap[i] = code
            chunks.append(remap[part.codes] if len(part.codes) else part.codes)
        return Categorical(np.concatenate(chunks), values)


@dataclass(slots=True)
class GpuFrame:
    """Rows of GPU samples, one array per column.

    Attributes:
        ts_ms: sample time, epoch ms (int64).
        seq: collector sequence number of the node message each row came from.
        gpu_index: GPU index within its node.
        labels: topology labels and uuid, categorical.
        metrics: one array per `gpufleet.contract.columns.METRIC_COLUMNS` entry, in its dtype.
        nulls: for metrics with at least one null, a bool mask (True = null). A masked
            value in `metrics` is 0 and means nothing.
    """

    ts_ms: IntArray
    seq: npt.NDArray[np.uint64]
    gpu_index: npt.NDArray[np.uint8]
    labels: dict[str, Categorical]
    metrics: dict[str, np.ndarray]
    nulls: dict[str, BoolArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def take(self, rows: npt.NDArray[np.intp]) -> GpuFrame:
        return GpuFrame(
            ts_ms=self.ts_ms[rows],
            seq=self.seq[rows],
            gpu_index=self.gpu_index[rows],
            labels={k: v.take(rows) for k, v in self.labels.items()},
            metrics={k: v[rows] for k, v in self.metrics.items()},
            nulls={k: m for k, v in self.nulls.items() if (m := v[rows]).any()},
        )

    def null_mask(self, name: str) -> BoolArray:
        mask = self.nulls.get(name)
        return mask if mask is not None else np.zeros(len(self), dtype=np.bool_)

    def label_list(self, name: str) -> list[str]:
        return self.labels[name].to_list()

    @staticmethod
    def empty() -> GpuFrame:
        return GpuFrame.concat([])

    @staticmethod
    def concat(frames: Sequence[GpuFrame]) -> GpuFrame:
        frames = [f for f in frames if len(f)]
        if len(frames) == 1:
            return frames[0]
        if not frames:
            return GpuFrame(
                ts_ms=np.zeros(0, np.int64),
                seq=np.zeros(0, np.uint64),
                gpu_index=np.zeros(0, np.uint8),
                labels={k: Categorical(np.zeros(0, np.uint32), []) for k in LABEL_COLUMNS},
                metrics={m.name: np.zeros(0, m.dtype) for m in METRIC_COLUMNS},
            )
        null_names = {name for f in frames for name in f.nulls}
        return GpuFrame(
            ts_ms=np.concatenate([f.ts_ms for f in frames]),
            seq=np.concatenate([f.seq for f in frames]),
            gpu_index=np.concatenate([f.gpu_index for f in frames]),
            labels={k: Categorical.concat([f.labels[k] for f in frames]) for k in LABEL_COLUMNS},
            metrics={m.name: np.concatenate([f.metrics[m.name] for f in frames]) for m in METRIC_COLUMNS},
            nulls={n: np.concatenate([f.null_mask(n) for f in frames]) for n in null_names},
        )


def frame_from_node_samples(samples: Iterable[NodeSample]) -> GpuFrame:
    """Columnarize validated node messages (one Python pass, then numpy)."""
    ts: list[int] = []
    seq: list[int] = []
    index: list[int] = []
    label_codes: dict[str, list[int]] = {k: [] for k in LABEL_COLUMNS}
    label_index: dict[str, dict[str, int]] = {k: {} for k in LABEL_COLUMNS}
    columns: dict[str, list[int | bool | None]] = {m.name: [] for m in METRIC_COLUMNS}
    for sample in samples:
        node_codes = {k: label_index[k].setdefault(getattr(sample, k), len(label_index[k])) for k in TOPOLOGY_LABELS}
        uuid_index = label_index["uuid"]
        for gpu in sample.gpus:
            ts.append(sample.ts_ms)
            seq.append(sample.seq)
            index.append(gpu.gpu_index)
            for k, code in node_codes.items():
                label_codes[k].append(code)
            label_codes["uuid"].append(uuid_index.setdefault(gpu.uuid, len(uuid_index)))
            for name, values in columns.items():
                values.append(getattr(gpu, name))
    metrics: dict[str, np.ndarray] = {}
    nulls: dict[str, BoolArray] = {}
    for name, values in columns.items():
        metrics[name], mask = _masked_array(values, METRICS_BY_NAME[name].dtype)
        if mask is not None:
            nulls[name] = mask
    return GpuFrame(
        ts_ms=np.asarray(ts, dtype=np.int64),
        seq=np.asarray(seq, dtype=np.uint64),
        gpu_index=np.asarray(index, dtype=np.uint8),
        labels={k: Categorical(np.asarray(label_codes[k], np.uint32), list(label_index[k])) for k in LABEL_COLUMNS},
        metrics=metrics,
        nulls=nulls,
    )


def _masked_array(values: list[int | bool | None], dtype: type[np.generic]) -> tuple[np.ndarray, BoolArray | None]:
    if None not in values:
        return np.asarray(values, dtype=dtype), None
    mask = np.fromiter((v is None for v in values), dtype=np.bool_, count=len(values))
    return np.asarray([0 if v is None else v for v in values], dtype=dtype), mask


def node_message_dicts(frame: GpuFrame) -> list[dict[str, Any]]:
    """Split a frame into one wire-shaped dict per (node, tick), GPUs in index order.

    The dicts are exactly `NodeSample.model_dump(by_alias=True)`'s shape, built column by
    column (one `tolist` per column, one `zip` for all rows) so that a producer can encode
    25,000 node messages a second without a pydantic object per GPU.
    """
    if not len(frame):
        return []
    rows = np.lexsort((frame.gpu_index, frame.ts_ms, frame.labels["node"].codes))
    node_codes = frame.labels["node"].codes[rows]
    ts = frame.ts_ms[rows]
    boundaries = np.flatnonzero((np.diff(node_codes) != 0) | (np.diff(ts) != 0)) + 1
    names = ["gpu_index", "uuid", *(m.name for m in METRIC_COLUMNS)]
    columns: list[list[Any]] = [frame.gpu_index[rows].tolist(), frame.labels["uuid"].take(rows).to_list()]
    for metric in METRIC_COLUMNS:
        values: list[Any] = frame.metrics[metric.name][rows].tolist()
        mask = frame.nulls.get(metric.name)
        if mask is not None:
            values = [None if null else v for v, null in zip(values, mask[rows].tolist(), strict=True)]
        columns.append(values)
    gpus = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    starts = [0, *boundaries.tolist()]
    ends = [*boundaries.tolist(), len(rows)]
    first_rows = rows[starts]
    labels = {k: frame.labels[k].take(first_rows).to_list() for k in TOPOLOGY_LABELS}
    ts_list, seq_list = frame.ts_ms[first_rows].tolist(), frame.seq[first_rows].tolist()
    return [
        {
            **{k: labels[k][i] for k in TOPOLOGY_LABELS},
            "schema": NODE_SAMPLE_SCHEMA,
            "ts_ms": ts_list[i],
            "seq": seq_list[i],
            "gpus": gpus[start:end],
        }
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def node_samples_from_frame(frame: GpuFrame) -> list[NodeSample]:
    """Split a frame into one `NodeSample` per (node, tick), GPUs in index order.

    Builds the models without re-validating (`model_construct`): a frame's values were
    already range-checked by `check_frame` or come from a source that produces them.
    """
    out = []
    for message in node_message_dicts(frame):
        fields = {k: v for k, v in message.items() if k != "schema"}
        fields["gpus"] = [GpuSample.model_construct(**gpu) for gpu in message["gpus"]]
        out.append(NodeSample.model_construct(schema_=NODE_SAMPLE_SCHEMA, **fields))
    return out


@dataclass(frozen=True, slots=True)
class RejectedRows:
    """Rows a frame check refused, grouped by the node message they came from."""

    node: str
    ts_ms: int
    reason: str


def check_frame(frame: GpuFrame) -> tuple[GpuFrame, list[RejectedRows]]:
    """Apply the wire schema's value rules to a whole frame at once.

    Mirrors `GpuSample`/`NodeSample` validation (a property test holds the two to the
    same verdicts): temperatures within [-40, 200] °C, utilization within [0, 100] %,
    power at most twice the power limit, no duplicate GPU index within a node message.
    A message with any bad GPU is rejected whole, as the pydantic model would.

    Returns:
        The frame without the rejected messages, and one `RejectedRows` per rejected
        message with the first reason found.
    """
    n = len(frame)
    if n == 0:
        return frame, []
    reasons: list[tuple[BoolArray, str]] = []
    for name in TEMP_COLUMNS:
        v = frame.metrics[name].astype(np.int64)
        bad = ((v < TEMP_MIN_C) | (v > TEMP_MAX_C)) & ~frame.null_mask(name)
        reasons.append((bad, f"{name} outside [{TEMP_MIN_C}, {TEMP_MAX_C}] °C"))
    for name in PCT_COLUMNS:
        bad = (frame.metrics[name] > PCT_MAX) & ~frame.null_mask(name)
        reasons.append((bad, f"{name} outside [0, {PCT_MAX}] %"))
    power = frame.metrics["power_mw"].astype(np.int64)
    limit = frame.metrics["power_limit_mw"].astype(np.int64)
    has_both = ~frame.null_mask("power_mw") & ~frame.null_mask("power_limit_mw") & (limit > 0)
    reasons.append((has_both & (power > POWER_LIMIT_FACTOR * limit), "power_mw above twice power_limit_mw"))
    reasons.append((_duplicate_gpu_rows(frame), "duplicate gpu_index in one node message"))
    bad_any = np.zeros(n, dtype=np.bool_)
    for bad, _ in reasons:
        bad_any |= bad
    if not bad_any.any():
        return frame, []
    return _drop_messages(frame, bad_any, reasons)


def _message_keys(frame: GpuFrame) -> npt.NDArray[np.int64]:
    # One key per (node, ts): the node code in the high bits, the timestamp below.
    return frame.labels["node"].codes.astype(np.int64) << 44 | (frame.ts_ms & ((1 << 44) - 1))


def _duplicate_gpu_rows(frame: GpuFrame) -> BoolArray:
    # Sort by (message, gpu_index) and compare neighbours: packing both into one int64
    # (key * 256 + index) overflowed past 2,048 nodes and made distinct GPUs collide.
    key = _message_keys(frame)
    order = np.lexsort((frame.gpu_index, key))
    k, g = key[order], frame.gpu_index[order]
    same = (k[1:] == k[:-1]) & (g[1:] == g[:-1])
    dup_sorted = np.zeros(len(order), dtype=np.bool_)
    dup_sorted[1:] |= same
    dup_sorted[:-1] |= same
    dup = np.empty_like(dup_sorted)
    dup[order] = dup_sorted
    return dup


def _drop_messages(
    frame: GpuFrame, bad_rows: BoolArray, reasons: list[tuple[BoolArray, str]]
) -> tuple[GpuFrame, list[RejectedRows]]:
    keys = _message_keys(frame)
    bad_keys = np.unique(keys[bad_rows])
    in_bad_message = np.isin(keys, bad_keys)
    rejected: list[RejectedRows] = []
    nodes = frame.labels["node"]
    for key in bad_keys.tolist():
        rows = np.flatnonzero(keys == key)
        first = int(rows[0])
        reason = next(f"{text} (gpu_index {int(frame.gpu_index[r])})" for mask, text in reasons for r in rows if mask[r])
        rejected.append(RejectedRows(nodes.values[nodes.codes[first]], int(frame.ts_ms[first]), reason))
    return frame.take(np.flatnonzero(~in_bad_message)), rejected
