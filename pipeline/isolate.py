"""Find the messages a store refuses, store the rest: bisect a refused insert.

When the store refuses an insert for its rows (`StoreRefusedData`: deterministic, the same
rows fail every time), the insert is split in halves by *message* (a node message's GPU
rows stay together; an event, inventory row or reading is its own message) and each half
is inserted again, recursively, until every refused message is alone. Those are returned
with the store's reason; everything else is stored. A refusal that is about the size of
the insert rather than any one row (more partitions than one block may touch) goes away
on splitting, and then nothing is refused at all.

Each part is inserted under `<token>:<first>-<end>` (message positions within the
delivery). The split depends only on the delivery's rows and on which messages fail, so a
delivery retried after a crash or a store outage part-way through the bisection forms the
same parts with the same tokens, and the parts stored before are deduplicated.
Cost: about 2 × log2(n) inserts per refused message, nothing when none is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from gpufleet.contract.errors import StoreRefusedData
from gpufleet.contract.frame import GpuFrame, node_message_dicts
from storage.base import DeadLetter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Message `index` (position in the delivery's list of messages for one table), and why."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Parts(Generic[T]):
    """How to cut a batch by message: `count` messages, `take(first, end)` the batch of [first, end)."""

    count: int
    take: Callable[[int, int], T]


def frame_parts(frame: GpuFrame) -> tuple[Parts[GpuFrame], npt.NDArray[np.int64]]:
    """A frame cut by node message `(node, ts)`, messages numbered in order of first row.

    Returns the parts and, per row, its message number.
    """
    if not len(frame):
        return Parts(0, lambda first, end: frame), np.zeros(0, dtype=np.int64)
    key = frame.labels["node"].codes.astype(np.int64) << 44 | (frame.ts_ms & ((1 << 44) - 1))
    _, first_row, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(len(first_row), dtype=np.int64)
    rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_row))
    message = rank[inverse.reshape(-1)]

    def take(first: int, end: int) -> GpuFrame:
        return frame.take(np.flatnonzero((message >= first) & (message < end)))

    return Parts(len(first_row), take), message


def list_parts(items: Sequence[T]) -> Parts[Sequence[T]]:
    return Parts(len(items), lambda first, end: items[first:end])


def insert_isolating(
    insert: Callable[[T, str], Any], parts: Parts[T], token: str, first_error: StoreRefusedData
) -> list[Refusal]:
    """Bisect a refused insert (it raised `first_error` for the whole batch under `token`).

    Raises whatever else `insert` raises (a `TransientError` stops the bisection; the caller
    retries the delivery, which bisects the same way again).
    """
    refused: list[Refusal] = []

    def attempt(first: int, end: int, error: StoreRefusedData | None) -> None:
        if error is None:
            try:
                insert(parts.take(first, end), f"{token}:{first}-{end}")
                return
            except StoreRefusedData as exc:
                error = exc
        if end - first == 1:
            refused.append(Refusal(first, str(error)))
            return
        middle = (first + end) // 2
        attempt(first, middle, None)
        attempt(middle, end, None)

    attempt(0, parts.count, first_error)
    return refused


def frame_letters(frame: GpuFrame, message: npt.NDArray[np.int64], refused: list[Refusal], source: str) -> list[DeadLetter]:
    """Dead letters for refused node messages: the message as the wire carries it."""
    letters = []
    for refusal in refused:
        rows = frame.take(np.flatnonzero(message == refusal.index))
        wire = node_message_dicts(rows)[0]
        payload = json.dumps(wire, separators=(",", ":"))
        letters.append(DeadLetter(source, f"store refused: {refusal.reason}", payload, str(wire["node"])))
    return letters


def model_letters(items: Sequence[BaseModel], refused: list[Refusal], source: str) -> list[DeadLetter]:
    letters = []
    for refusal in refused:
        item = items[refusal.index]
        node = getattr(item, "node", None)
        letters.append(DeadLetter(source, f"store refused: {refusal.reason}", item.model_dump_json(by_alias=True), node))
    return letters
