"""The SQL decoder of the clocks-event-reasons bitmask agrees with the Python one, on chDB.

It runs here, on the integration tests' store, rather than on an in-memory chDB of its own:
chDB is one embedded engine per process, bound to the first data path opened, and the
session-scoped stores of the integration tests hold it.
"""

from __future__ import annotations

from collectors.nvml import clock_reasons as cr
from storage.clickhouse import ClickHouseStore


def test_sql_decode_agrees_with_python(store: ClickHouseStore) -> None:
    masks = [0, 0x1, 0x4C, 0xE8, 0x7FF]
    values = ", ".join(f"toUInt64({m})" for m in masks)
    sql = f"SELECT {cr.sql_decode('clocks_event_reasons')} FROM (SELECT arrayJoin([{values}]) AS clocks_event_reasons)"
    got = [list(row[0]) for row in store.query(sql).rows]
    assert got == [cr.decode(m) for m in masks]
