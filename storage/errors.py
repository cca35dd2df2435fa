"""What a ClickHouse error means for the caller: retry, fix the store, or isolate the rows.

ClickHouse (server and chDB alike) puts `Code: NNN` in every error message; the codes are
stable (`src/Common/ErrorCodes.cpp`). Three classes:

- **retryable** (`TransientError`): the server cannot take the statement *now* — too many
  parts waiting for merges, memory, a read-only replica while Keeper is away, an insert
  whose outcome is unknown, timeouts, network. Retried with backoff; the same insert with
  the same token lands once.
- **store** (`StoreError`): the store itself is wrong for us — a missing table or column,
  no grant, wrong password, a setting it does not know. Retrying the same rows fixes
  nothing, and neither does dead-lettering them: ingest backs off until an operator acts.
- **data** (`StoreRefusedData`): every other code on an insert. The rows themselves are the
  reason (a value out of a type's range, more partitions than one block may touch, a view's
  check): the same rows fail every time, so ingest isolates them (`pipeline.isolate`).

One code is shared: 252 `TOO_MANY_PARTS` is retryable ("Too many parts ... Merges are
processing significantly slower than inserts"), except when the message says "Too many
partitions for single INSERT block", which depends only on the rows.

A refusal by a materialized view ("while pushing to view ...") is a **store** error, not
data: the source table may already hold the block (the engine commits it in parallel with
the views; seen in chDB 26.9), so inserting parts of it under other tokens would store those
rows twice. The view is part of the schema; once it is fixed, the retry with the same token
lands once in the table and in every view (the settings in `storage.clickhouse.DEDUP_SETTINGS`).
"""

from __future__ import annotations

import re
from typing import Final

from gpufleet.contract.errors import GpufleetError, StoreError, StoreRefusedData, TransientError

# name by code, for the messages; every code here was checked against ErrorCodes.cpp
RETRYABLE: Final = {
    159: "TIMEOUT_EXCEEDED",
    173: "CANNOT_ALLOCATE_MEMORY",
    201: "QUOTA_EXPIRED",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    225: "NO_ZOOKEEPER",
    236: "ABORTED",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    244: "UNEXPECTED_ZOOKEEPER_ERROR",
    252: "TOO_MANY_PARTS",
    254: "NO_ACTIVE_REPLICAS",
    265: "NO_AVAILABLE_REPLICA",
    279: "ALL_CONNECTION_TRIES_FAILED",
    285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE",
    319: "UNKNOWN_STATUS_OF_INSERT",
    364: "RECEIVED_ERROR_TOO_MANY_REQUESTS",
    394: "QUERY_WAS_CANCELLED",
    439: "CANNOT_SCHEDULE_TASK",
    999: "KEEPER_EXCEPTION",
}
STORE: Final = {
    16: "NO_SUCH_COLUMN_IN_TABLE",
    60: "UNKNOWN_TABLE",
    81: "UNKNOWN_DATABASE",
    115: "UNKNOWN_SETTING",
    164: "READONLY",
    192: "UNKNOWN_USER",
    193: "WRONG_PASSWORD",
    194: "REQUIRED_PASSWORD",
    195: "IP_ADDRESS_NOT_ALLOWED",
    218: "TABLE_IS_DROPPED",
    291: "DATABASE_ACCESS_DENIED",
    452: "SETTING_CONSTRAINT_VIOLATION",
    497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
}
TOO_MANY_PARTITIONS: Final = "Too many partitions for single INSERT block"
VIEW_FAILED: Final = "while pushing to view"
_CODE = re.compile(r"Code:\s*(\d+)")


def error_code(message: str) -> int | None:
    match = _CODE.search(message)
    return int(match[1]) if match else None


def classify(message: str, insert: bool) -> GpufleetError:
    """The error to raise for a ClickHouse error `message` (see the module docstring).

    Args:
        insert: the statement was an insert. Only an insert's rows can be at fault; any
            other statement's unclassified error is a `StoreError`.
    """
    text = first_line(message)
    code = error_code(message)
    if code == 252 and TOO_MANY_PARTITIONS in message:
        return StoreRefusedData(text, code) if insert else StoreError(text, code)
    if code in RETRYABLE:
        return TransientError(f"store busy ({RETRYABLE[code]}), will retry: {text}")
    if code in STORE or not insert:
        return StoreError(text, code)
    if VIEW_FAILED in message:
        return StoreError(f"a materialized view refused the insert (fix the view; the data waits): {text}", code)
    return StoreRefusedData(text, code)


def first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return " ".join(lines[:2])[:600] if lines else "store error"
