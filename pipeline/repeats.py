"""Drop node-sample rows already stored: the log can hold one message at two positions.

The range token (`Delivery.token`) makes a *re-delivered range* a no-op in the store, but a
message the producer sent twice sits at two offsets and carries two tokens. That happens
when a produce was stored but its acknowledgement was lost: the Kafka transport resends the
chunk from a new producer instance (idempotence does not span instances).

What the wire allows (`docs/kafka.md`, "Repeated node messages"): one sample per `(node,
ts, gpu_index)`. gpufleet's collectors send all of a node's GPUs in one message per tick,
but a third-party producer may split a tick (one message per GPU, or any grouping) with
the same `node` and `ts`, so a message is named by `(node, ts, its GPU indexes)` and a
*row* is a repeat when its `(node, ts, gpu_index)` was stored (`seq` restarts with the
collector and cannot name anything). Hence: messages of one `(node, ts)` with disjoint GPUs
are all stored; a message whose GPUs were all stored is a repeat; one that overlaps keeps
its new GPUs and loses the stored ones (the new rows are data the store does not have, and
dead-lettering them would hide valid samples from every query; the stored copy of a row
wins, as for a whole repeat, and the two copies' values are not compared).

`DropRepeats` remembers, per node, the last `window_messages` distinct timestamps stored
through it, each with a 64-bit mask of the GPU indexes stored for it, and drops a row whose
`(node, ts, gpu_index)` is among them or earlier in the same delivery. GPU indexes 64-255
(the schema allows them; no node has that many) are outside the mask: their repeats are
stored again, never wrongly dropped. Only rows whose insert the store acknowledged are
remembered (`remember` after the write), so every remembered key is in the store and
dropping a repeat never loses data. (An insert the store skipped for its token counts as
stored: that holds while a token names exactly one range of records, which is why a Kafka
delivery waits for a fresh topic id, `KafkaSubscription._topic_id`.) A range delivered
again by another process (crash, rebalance) is filtered against that process's memory
instead and may keep rows the first attempt dropped; that is harmless, because the store
drops a range's second insert by its token whatever rows it carries.

Ingest counts what this drops (`gpufleet_ingest_duplicate_rows_total` exactly;
`_messages_total` as, per `(node, ts)` of a delivery, the most copies dropped of any one of
its GPU rows: exact for whole-message repeats, a lower bound for a split producer's),
except in a range this process stored itself before (its commit failed and the range came
again): those rows are all remembered, so all dropped, but no producer sent them twice.

Bounds: a repeat is dropped when its original was stored by the same process, among the
last `window_messages` distinct timestamps of that node. A repeat whose original was stored
before a restart, or by the member that owned the partition before a rebalance, is stored
again. Memory: 16 bytes × `window_messages` per node seen (128: 2 KiB per node, ~50 MiB
for 25,000 nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gpufleet.contract.frame import GpuFrame

DEFAULT_WINDOW_MESSAGES: Final = 128  # ~2 min of a 1 Hz collector; a re-sent chunk follows its original
_EMPTY: Final = np.iinfo(np.int64).min  # an unused ring slot (timestamps are >= 0)
_CHECK_CHUNK: Final = 8_192  # keys compared against the ring at once: bounds the temporary (chunk × window)


@dataclass(frozen=True, slots=True)
class MessageKeys:
    """Distinct `(node, ts)` kept, sorted by node code then ts; `codes` index `nodes`; `gpus`
    the mask of GPU indexes 0-63 kept for each (bit i: GPU i)."""

    nodes: list[str]
    codes: npt.NDArray[np.uint32]
    ts_ms: npt.NDArray[np.int64]
    gpus: npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class Repeats:
    """What `DropRepeats.drop` took out of one frame, and the keys of what it kept."""

    messages: int
    rows: int
    kept: MessageKeys


class DropRepeats:
    """Per-node memory of stored message timestamps and their GPUs; see the module docstring
    for the bounds.

    Not thread-safe: the ingest loop calls `drop`, writes, then `remember`.
    """

    def __init__(self, window_messages: int = DEFAULT_WINDOW_MESSAGES) -> None:
        if window_messages < 1:
            raise ValueError(f"window_messages must be at least 1, got {window_messages!r}")
        self.window_messages = window_messages
        self._slot: dict[str, int] = {}
        self._ring = np.full((0, window_messages), _EMPTY, dtype=np.int64)
        self._masks = np.zeros((0, window_messages), dtype=np.uint64)  # GPU indexes 0-63 stored for each ts
        self._stored = np.zeros(0, dtype=np.int64)  # messages remembered per node (ring write position)
        self._newest = np.full(0, _EMPTY, dtype=np.int64)  # newest ts remembered per node: the fast path

    @property
    def nodes(self) -> int:
        return len(self._slot)

    def drop(self, frame: GpuFrame) -> tuple[GpuFrame, Repeats]:
        """The frame without repeated rows (rows keep their order), and what was dropped.

        A row is a repeat when its `(node, ts, gpu_index)` was remembered, or when an earlier
        row of the frame has the same `(node, ts, gpu_index)` (two copies in one delivery).
        """
        n = len(frame)
        node = frame.labels["node"]
        if n == 0:
            return frame, Repeats(0, 0, MessageKeys(node.values, node.codes[:0], frame.ts_ms[:0], np.zeros(0, np.uint64)))
        order = np.lexsort((frame.gpu_index, frame.ts_ms, node.codes))
        codes, ts, gpu = node.codes[order], frame.ts_ms[order], frame.gpu_index[order]
        new_key = np.ones(n, dtype=np.bool_)
        new_key[1:] = (codes[1:] != codes[:-1]) | (ts[1:] != ts[:-1])
        first_row = new_key.copy()  # first row of its (node, ts, gpu_index): lexsort is stable
        first_row[1:] |= gpu[1:] != gpu[:-1]
        starts = np.flatnonzero(new_key)
        key_of_row = np.cumsum(new_key) - 1
        key_codes, key_ts = codes[starts], ts[starts]
        bit = np.where(gpu < 64, np.left_shift(np.uint64(1), gpu.astype(np.uint64) & np.uint64(63)), np.uint64(0))
        stored = self._stored_gpus(node.values, key_codes, key_ts)
        keep_sorted = first_row & ((stored[key_of_row] & bit) == 0)
        kept_per_key = np.add.reduceat(keep_sorted.astype(np.int64), starts)
        has_kept = kept_per_key > 0
        kept_gpus = np.bitwise_or.reduceat(np.where(keep_sorted, bit, np.uint64(0)), starts)
        kept = MessageKeys(node.values, key_codes[has_kept], key_ts[has_kept], kept_gpus[has_kept])
        kept_rows = int(kept_per_key.sum())
        if kept_rows == n:
            return frame, Repeats(0, 0, kept)
        # Messages dropped (in whole or part), per (node, ts): the most rows dropped for any one
        # of its GPUs (each copy of a message carries each of its GPUs once).
        groups = np.flatnonzero(first_row)  # one per (node, ts, gpu_index)
        dropped = np.diff(np.r_[groups, n]) - keep_sorted[groups]
        messages = int(np.maximum.reduceat(dropped, np.flatnonzero(new_key[groups])).sum())
        keep = np.sort(order[keep_sorted])
        return frame.take(keep), Repeats(messages, n - kept_rows, kept)

    def remember(self, keys: MessageKeys) -> None:
        """Call once the store acknowledged the rows of `keys` (see the module docstring)."""
        if not len(keys.ts_ms):
            return
        gpus = keys.gpus
        slots = self._slots(keys.nodes, np.unique(keys.codes))[keys.codes]
        at = self._positions(slots, keys.ts_ms)
        known = at >= 0  # more GPUs of a (node, ts) already remembered: add them to its mask
        self._masks[slots[known], at[known]] |= gpus[known]
        slots, ts, gpus = slots[~known], keys.ts_ms[~known], gpus[~known]
        if not len(ts):
            return
        order = np.argsort(slots, kind="stable")  # by node; ts stays ascending within a node
        slots, ts, gpus = slots[order], ts[order], gpus[order]
        starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
        counts = np.diff(np.r_[starts, len(slots)])
        group = np.repeat(np.arange(len(starts)), counts)
        rank = np.arange(len(slots)) - starts[group]
        last = rank >= (counts - self.window_messages)[group]  # more than a window in one go: the newest
        node_slots = slots[starts]
        positions = (self._stored[node_slots][group] + rank) % self.window_messages
        self._ring[slots[last], positions[last]] = ts[last]
        self._masks[slots[last], positions[last]] = gpus[last]
        self._stored[node_slots] += counts
        self._newest[node_slots] = np.maximum(self._newest[node_slots], np.maximum.reduceat(ts, starts))

    def _stored_gpus(self, names: list[str], codes: npt.NDArray[np.uint32], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        """Per key `(names[code], ts)`, the GPU mask remembered for it (0 when none)."""
        masks = np.zeros(len(codes), dtype=np.uint64)
        if not self._slot:
            return masks
        slot_of_code = np.fromiter((self._slot.get(name, -1) for name in names), dtype=np.int64, count=len(names))
        slots = slot_of_code[codes]
        at = self._positions(slots, ts)
        found = at >= 0
        masks[found] = self._masks[slots[found], at[found]]
        return masks

    def _positions(self, slots: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Per key, its ring position in its node's slot, or -1 (unknown node: slot -1)."""
        at = np.full(len(ts), -1, dtype=np.int64)
        known = slots >= 0
        # A timestamp newer than any remembered for its node is new: the usual case, no ring lookup.
        maybe = np.flatnonzero(known & (ts <= self._newest[np.where(known, slots, 0)]))
        for start in range(0, len(maybe), _CHECK_CHUNK):
            part = maybe[start : start + _CHECK_CHUNK]
            hit = self._ring[slots[part]] == ts[part, None]
            found = hit.any(axis=1)
            at[part[found]] = hit[found].argmax(axis=1)
        return at

    def _slots(self, names: list[str], codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
        """A ring slot per code in `codes` (new nodes get one); indexed by code."""
        out = np.full(len(names), -1, dtype=np.int64)
        for code in codes.tolist():
            out[code] = self._slot.setdefault(names[code], len(self._slot))
        if len(self._slot) > len(self._stored):
            self._grow(max(len(self._slot), 2 * len(self._stored), 64))
        return out

    def _grow(self, capacity: int) -> None:
        extra = capacity - len(self._stored)
        self._ring = np.vstack([self._ring, np.full((extra, self.window_messages), _EMPTY, dtype=np.int64)])
        self._masks = np.vstack([self._masks, np.zeros((extra, self.window_messages), dtype=np.uint64)])
        self._stored = np.concatenate([self._stored, np.zeros(extra, dtype=np.int64)])
        self._newest = np.concatenate([self._newest, np.full(extra, _EMPTY, dtype=np.int64)])
