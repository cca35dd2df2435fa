"""Per-partition batch formation: fixed offset ranges, the same ones again after a crash.

A batch is one partition's records from the committed offset up to an end that is decided
once and then kept: when a batch's end is chosen, it is recorded in Kafka (the committed
offset of a second consumer group, `<group>.ranges`) *before* the batch is written. After
a crash, or when another ingest process takes the partition over, the first batch is formed
again up to exactly that recorded end, so it carries the same dedup token and ClickHouse
drops the second insert. Without the record a batch cut by time (max_wait_s) could be cut
elsewhere the second time, and the overlap would be stored twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PartitionBatch:
    """Records of one partition being gathered into the next delivery.

    Attributes:
        end_offset: when set, the batch must end exactly at this offset (inclusive): a range
            recorded by an earlier owner of the partition that may already be in the store.
        topic_id: the topic's id (KIP-516) when the first record arrived; part of the token.
    """

    topic_id: str
    end_offset: int | None = None
    records: list[Any] = field(default_factory=list)
    started_s: float = 0.0

    @property
    def next_offset(self) -> int | None:
        return int(self.records[-1].offset) + 1 if self.records else None

    def full(self, max_messages: int) -> bool:
        if self.end_offset is not None:
            return bool(self.records) and int(self.records[-1].offset) >= self.end_offset
        return len(self.records) >= max_messages

    def add(self, records: list[Any], max_messages: int) -> int | None:
        """Take records in order until full; return the offset of the first one not taken, if any."""
        after = self.next_offset
        for i, record in enumerate(records):
            if after is not None and record.offset < after:
                continue  # seen already (a seek back re-fetched it)
            if not self.records and self.end_offset is not None and record.offset > self.end_offset:
                self.end_offset = None  # the recorded range is gone (retention): nothing to repeat
            if self.full(max_messages) or (self.end_offset is not None and record.offset > self.end_offset):
                return int(record.offset) if i < len(records) else None
            if not self.records:
                self.started_s = time.monotonic()
            self.records.append(record)
            after = int(record.offset) + 1
        return None

    def ready(self, max_messages: int, max_wait_s: float, draining: bool) -> bool:
        if not self.records:
            return False
        if self.full(max_messages):
            return True
        if self.end_offset is not None:
            return False  # a recorded range is never cut short: wait for the rest of it
        return draining or time.monotonic() - self.started_s >= max_wait_s

    def token(self, topic: str, partition: int) -> str:
        first, last = int(self.records[0].offset), int(self.records[-1].offset)
        return f"{topic}:{self.topic_id}:{partition}:{first}-{last}"
