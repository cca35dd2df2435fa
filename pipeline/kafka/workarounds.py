"""Where kafka-python 3.0 behaves otherwise than its documentation, and what the subscription does about it.

Each workaround names the version it was seen with; it reads kafka-python's private state
defensively (`getattr`), so a release that renames it makes the workaround a no-op, not a crash.
"""

from __future__ import annotations

from kafka import KafkaConsumer


def unpark(consumer: KafkaConsumer) -> None:
    """Work around kafka-python 3.0's (3.0.12) port of KAFKA-7548 (records fetched for a partition that
    is paused are parked, and given back once it is resumed): they are given back only while no
    other partition's records are in line, and an emptied `PartitionRecords` stays in line (it
    is not reset to None), so a resumed partition could keep its parked records, and with them
    its place out of the fetch rotation, for good: it was never fetched again (seen with the
    overlapped ingest, which polls while partitions are paused). Emptied records in line are
    nothing to keep; dropping them lets the parked ones back in on the next poll."""
    fetcher = getattr(consumer, "_fetcher", None)
    in_line = getattr(fetcher, "_next_partition_records", None)
    if in_line is not None and not in_line:
        fetcher._next_partition_records = None  # type: ignore[union-attr]
