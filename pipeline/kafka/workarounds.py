"""Where kafka-python 3.0 behaves otherwise than its documentation, and what the subscription does about it.

Each workaround names the version it was seen with; it reads kafka-python's private state
defensively (`getattr`), so a release that renames it makes the workaround a no-op, not a crash.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer


def unpark(consumer: KafkaConsumer) -> None:
    """Work around kafka-python 3.0's (3.0.12) port of KAFKA-7548 (records fetched for a partition that
    is paused are parked, and given back once it is resumed). The subscription calls this
    before every poll. Two ways a partition stayed parked, and so out of the fetch rotation
    (`_fetchable_partitions` skips a partition with parked data), for good:

    - parked records are given back only while no other partition's records are in line, and
      an emptied `PartitionRecords` stays in line (it is not reset to None); and then only one
      partition's per poll. Seen first with the overlapped ingest, which polls while partitions
      are paused: a resumed partition was never fetched again. Emptied records in line are
      nothing to keep: dropping them lets one parked partition back in on each poll;
    - data parked for a partition that a rebalance then took away is never given back or
      dropped, and kept its slot in that one-per-poll line. Seen in the 3-broker leader-kill
      test (about 1 run in 10): a member owned every partition alone for two seconds, parked
      four partitions' records, kept samples/3 when two more members joined, and never read
      it again (lag 235, nothing logged, for minutes). Such data would never be returned (it
      is not this member's partition), so it is dropped."""
    fetcher = getattr(consumer, "_fetcher", None)
    in_line = getattr(fetcher, "_next_partition_records", None)
    if in_line is not None and not in_line:
        fetcher._next_partition_records = None  # type: ignore[union-attr]
    assigned = consumer.assignment()
    for name in ("_paused_partition_records", "_paused_completed_fetches"):
        parked = getattr(fetcher, name, None)
        if isinstance(parked, dict):
            for tp in [tp for tp in parked if tp not in assigned]:
                del parked[tp]


def fetch_state(consumer: KafkaConsumer) -> dict[str, Any]:
    """What kafka-python 3.0 (3.0.12) holds that decides whether a partition is fetched, for the
    state dump (`KafkaSubscription.state`): per assigned partition its position and the flags
    `is_fetchable` reads, and which partitions have fetched data parked or in line (a partition
    with any is not fetched again until that data is returned)."""
    subscriptions = getattr(consumer, "_subscription", None)
    fetcher = getattr(consumer, "_fetcher", None)
    partitions: dict[str, Any] = {}
    for tp, s in list(getattr(subscriptions, "assignment", {}).items()):
        position = getattr(s, "_position", None)
        partitions[f"{tp.topic}/{tp.partition}"] = {
            "position": getattr(position, "offset", None),
            "paused": getattr(s, "paused", None),
            "pending_revocation": getattr(s, "_pending_revocation", None),
            "awaiting_validation": getattr(s, "_awaiting_validation", None),
            "awaiting_reset": getattr(s, "reset_strategy", None) is not None,
            "fetchable": s.is_fetchable() if hasattr(s, "is_fetchable") else None,
        }
    in_line = getattr(fetcher, "_next_partition_records", None)

    def names(tps: Any) -> list[str]:
        return sorted(f"{tp.topic}/{tp.partition}" for tp in tps)

    coordinator = getattr(consumer, "_coordinator", None)
    return {
        "partitions": partitions,
        "parked_fetches": names(getattr(fetcher, "_paused_completed_fetches", {})),
        "parked_records": names(getattr(fetcher, "_paused_partition_records", {})),
        "completed_fetches": names(f.topic_partition for f in list(getattr(fetcher, "_completed_fetches", []))),
        "in_line": None if in_line is None else {"partition": str(getattr(in_line, "topic_partition", "")), "empty": not in_line},
        "group_state": str(getattr(coordinator, "state", None)),
        "generation": str(getattr(coordinator, "_generation", None)),
        "rejoin_needed": getattr(coordinator, "rejoin_needed", None),
        "coordinator_id": getattr(coordinator, "coordinator_id", None),
    }
