"""Drop node messages already stored: the log can hold one message at two positions.

The range token (`Delivery.token`) makes a *re-delivered range* a no-op in the store, but a
message the producer sent twice sits at two offsets and carries two tokens. That happens
when a produce was stored but its acknowledgement was lost: the Kafka transport resends the
chunk from a new producer instance (idempotence does not span instances). A collector emits at most one
message per node and timestamp, so `(node, ts)` names a message (`seq` restarts with the
collector and cannot).

`DropRepeats` remembers, per node, the timestamps of the last `window_messages` messages
stored through it, and drops a message whose `(node, ts)` is among them or earlier in the
same delivery. Only messages whose insert the store acknowledged are remembered
(`remember` after the write), so every remembered key is in the store and dropping a
repeat never loses data. (An insert the store skipped for its token counts as stored: that
holds while a token names exactly one range of records, which is why a Kafka delivery waits
for a fresh topic id, `KafkaSubscription._topic_id`.) A range delivered again by another
process (crash, rebalance) is filtered against that process's memory instead and may keep
rows the first attempt dropped; that is harmless, because the store drops a range's second
insert by its token whatever rows it carries.

Ingest counts what this drops (`gpufleet_ingest_duplicate_messages_total`), except in a
range this process stored itself before (its commit failed and the range came again): those
messages are all remembered, so all dropped, but no producer sent them twice.

Bounds: a repeat is dropped when its original was stored by the same process, among the
last `window_messages` messages of that node. A repeat whose original was stored before
a restart, or by the member that owned the partition before a rebalance, is stored again.
Memory: 8 bytes × `window_messages` per node seen (128: ~1 KiB per node, ~25 MiB for
25,000 nodes).
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
    """`(node, ts)` of messages, sorted by node code then ts; `codes` index `nodes`."""

    nodes: list[str]
    codes: npt.NDArray[np.uint32]
    ts_ms: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Repeats:
    """What `DropRepeats.drop` took out of one frame, and the keys of what it kept."""

    messages: int
    rows: int
    kept: MessageKeys


class DropRepeats:
    """Per-node memory of stored message timestamps; see the module docstring for the bounds.

    Not thread-safe: the ingest loop calls `drop`, writes, then `remember`.
    """

    def __init__(self, window_messages: int = DEFAULT_WINDOW_MESSAGES) -> None:
        if window_messages < 1:
            raise ValueError(f"window_messages must be at least 1, got {window_messages!r}")
        self.window_messages = window_messages
        self._slot: dict[str, int] = {}
        self._ring = np.full((0, window_messages), _EMPTY, dtype=np.int64)
        self._stored = np.zeros(0, dtype=np.int64)  # messages remembered per node (ring write position)
        self._newest = np.full(0, _EMPTY, dtype=np.int64)  # newest ts remembered per node: the fast path

    @property
    def nodes(self) -> int:
        return len(self._slot)

    def drop(self, frame: GpuFrame) -> tuple[GpuFrame, Repeats]:
        """The frame without repeated messages (rows keep their order), and what was dropped.

        A message is a repeat when its `(node, ts)` was remembered, or when an earlier row of
        the frame has the same `(node, ts, gpu_index)` (two copies in one delivery).
        """
        n = len(frame)
        node = frame.labels["node"]
        if n == 0:
            return frame, Repeats(0, 0, MessageKeys(node.values, node.codes[:0], frame.ts_ms[:0]))
        order = np.lexsort((frame.gpu_index, frame.ts_ms, node.codes))
        codes, ts, gpu = node.codes[order], frame.ts_ms[order], frame.gpu_index[order]
        new_key = np.ones(n, dtype=np.bool_)
        new_key[1:] = (codes[1:] != codes[:-1]) | (ts[1:] != ts[:-1])
        first_row = new_key.copy()  # first row of its (node, ts, gpu_index): lexsort is stable
        first_row[1:] |= gpu[1:] != gpu[:-1]
        key_of_row = np.cumsum(new_key) - 1
        key_codes, key_ts = codes[new_key], ts[new_key]
        seen = self._seen(node.values, key_codes, key_ts)
        kept = MessageKeys(node.values, key_codes[~seen], key_ts[~seen])
        keep_sorted = first_row & ~seen[key_of_row]
        kept_rows = int(np.count_nonzero(keep_sorted))
        if kept_rows == n:
            return frame, Repeats(0, 0, kept)
        # Copies of a message have the same GPUs: rows ÷ distinct GPUs = copies in the frame.
        rows = np.bincount(key_of_row, minlength=len(key_codes))
        gpus = np.bincount(key_of_row, weights=first_row, minlength=len(key_codes))
        copies = np.ceil(rows / gpus).astype(np.int64)
        messages = int(copies.sum()) - len(kept.ts_ms)
        keep = np.sort(order[keep_sorted])
        return frame.take(keep), Repeats(messages, n - kept_rows, kept)

    def remember(self, keys: MessageKeys) -> None:
        """Call once the store acknowledged the rows of `keys` (see the module docstring)."""
        if not len(keys.ts_ms):
            return
        slots = self._slots(keys.nodes, np.unique(keys.codes))[keys.codes]
        order = np.argsort(slots, kind="stable")  # by node; ts stays ascending within a node
        slots, ts = slots[order], keys.ts_ms[order]
        starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
        counts = np.diff(np.r_[starts, len(slots)])
        group = np.repeat(np.arange(len(starts)), counts)
        rank = np.arange(len(slots)) - starts[group]
        last = rank >= (counts - self.window_messages)[group]  # more than a window in one go: the newest
        node_slots = slots[starts]
        positions = (self._stored[node_slots][group] + rank) % self.window_messages
        self._ring[slots[last], positions[last]] = ts[last]
        self._stored[node_slots] += counts
        self._newest[node_slots] = np.maximum(self._newest[node_slots], np.maximum.reduceat(ts, starts))

    def _seen(self, names: list[str], codes: npt.NDArray[np.uint32], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        seen = np.zeros(len(codes), dtype=np.bool_)
        if not self._slot:
            return seen
        slot_of_code = np.fromiter((self._slot.get(name, -1) for name in names), dtype=np.int64, count=len(names))
        slots = slot_of_code[codes]
        known = slots >= 0
        # A timestamp newer than any remembered for its node is new: the usual case, no ring lookup.
        maybe = np.flatnonzero(known & (ts <= self._newest[np.where(known, slots, 0)]))
        for start in range(0, len(maybe), _CHECK_CHUNK):
            part = maybe[start : start + _CHECK_CHUNK]
            seen[part] = (self._ring[slots[part]] == ts[part, None]).any(axis=1)
        return seen

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
        self._stored = np.concatenate([self._stored, np.zeros(extra, dtype=np.int64)])
        self._newest = np.concatenate([self._newest, np.full(extra, _EMPTY, dtype=np.int64)])
