"""Per-partition batch formation: fixed offset ranges, the same ones again after a crash.

A batch is one partition's records from the committed offset up to an end that is decided
once and then kept: when a batch's end is chosen, it is recorded in Kafka (the committed
offset of a second consumer group, `<group>.ranges`) *before* the batch is written. After
a crash, or when another ingest process takes the partition over, the first batch is formed
again up to exactly that recorded end, so it carries the same dedup token and ClickHouse
drops the second insert. Without the record a batch cut by time (max_wait_s) could be cut
elsewhere the second time, and the overlap would be stored twice.

When a batch is cut (`ready`) only decides its size, never its correctness: every rollup
row and every insert has a cost per delivery (per GPU and minute in it), so a batch is as
large as freshness allows. With a backlog (the partition's log, by its high watermark,
already holds enough to fill the batch) it waits to fill, up to `BEHIND_WAIT_FACTOR` ×
`max_wait_s`: the records are there, fetching them is quick, and fuller deliveries are what
lets ingest catch up. Otherwise (caught up, or a tick or two behind) it goes once quiet for
`quiet_s` (a tick's burst of node messages is over) or after `max_wait_s`: waiting longer
would only add to every row's latency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

BEHIND_WAIT_FACTOR: Final = 5  # a batch behind the log waits up to this many × max_wait_s to fill


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
    added_s: float = 0.0  # when the last record was added
    value_bytes: int = 0  # of the records' values: what the batch holds in memory

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
            self.added_s = time.monotonic()
            if not self.records:
                self.started_s = self.added_s
            self.records.append(record)
            self.value_bytes += len(record.value) if record.value is not None else 0
            after = int(record.offset) + 1
        return None

    def ready(
        self,
        max_messages: int,
        max_wait_s: float,
        draining: bool,
        highwater: int | None = None,
        quiet_s: float = 0.0,
        crowded: bool = False,
    ) -> bool:
        """Whether to deliver now; `highwater`: the partition's log end as last fetched (None: unknown,
        taken as caught up), `quiet_s`: how long a caught-up batch waits for more (0: no quiet trigger),
        `crowded`: the gathered batches together hold as much as ingest may (deliver rather than wait)."""
        if not self.records:
            return False
        if self.full(max_messages):
            return True
        if self.end_offset is not None:
            return False  # a recorded range is never cut short: wait for the rest of it
        if draining or crowded:
            return True
        now = time.monotonic()
        room = max_messages - len(self.records)
        if highwater is not None and highwater - (int(self.records[-1].offset) + 1) >= room:
            # a backlog: the log already holds what fills the batch, so filling it costs no waiting for producers
            return now - self.started_s >= BEHIND_WAIT_FACTOR * max_wait_s
        return now - self.started_s >= max_wait_s or (quiet_s > 0 and now - self.added_s >= quiet_s)

    def token(self, topic: str, partition: int) -> str:
        first, last = int(self.records[0].offset), int(self.records[-1].offset)
        return f"{topic}:{self.topic_id}:{partition}:{first}-{last}"
