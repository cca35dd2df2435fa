"""The writer's half of gpu_straggler_hour (migration 018): the `stragglers` statistic per GPU
and clock hour, computed once an hour is over.

A GPU's slow minutes compare it with its rack's median in the same minute, which needs the
whole rack's minute: no insert block holds one (a block is some nodes' ticks), so neither a
view nor the columnar rollups can compute it. After each sample insert the writer runs one
`INSERT ... SELECT` over gpu_minute per hour that the insert closed or touched late:

- the hours the frame holds rows in that end before its newest sample (the frame crossed them),
- the hours it holds rows in that this writer computed before (its rows came late),
- the hour before the frame's oldest, once (a frame that opens a new hour holds none of the
  old one, and another writer may have written that hour's last rows).

An hour costs one read of its gpu_minute rows (~600,000 at 10,000 GPUs, about a second),
once an hour in steady state. Nothing here decides an answer: the query uses a stored
rack-hour only while its `rack_samples` equals gpu_hour's count for it, so rows that came
later through another writer, or a crash between the sample insert and this one, make the
query compute that rack-hour from gpu_minute instead. A retried insert (same dedup token)
adds no gpu_minute rows, so computing the hour again gives the same rows, which replace the
stored ones (ReplacingMergeTree): nothing counts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.contract.frame import GpuFrame
from storage.sqlfiles import resolve

VERSION = 18  # the migration that creates gpu_straggler_hour
HOUR_S = 3600
KEEP_S = 48 * HOUR_S  # hours older than this (behind the newest seen) are forgotten
_UNKNOWN_TABLE = 60
_ACCESS_DENIED = 497
log = logging.getLogger(__name__)

COLUMNS = (
    "hour, cluster, rack, node, gpu_index, uuid, rack_samples, busy_minutes, slow_minutes, clock_minutes, clock_mhz_sum,"
    " rack_clock_minutes, rack_clock_mhz_sum, util_pct_sum, rack_util_pct_sum, computed_at"
)
# Every GPU with minutes in the hour gets a row (LEFT JOIN: busy_minutes 0 where it never was
# busy), so that a recomputation replaces each row the previous one wrote.
REFRESH_SQL = resolve(
    f"""INSERT INTO gpu_straggler_hour ({COLUMNS})
WITH
    -- @include straggler_deviations
    straggler_deviations AS deviations,
    toDateTime({{hour_s:UInt32}}, 'UTC') AS h,
minutes AS
(
    SELECT * FROM gpu_minute WHERE minute >= h AND minute < h + INTERVAL 1 HOUR
),
    -- @include straggler_partials
,
everyone AS
(
    SELECT cluster, rack, node, gpu_index, uuid, sum(samples) AS samples
    FROM minutes
    GROUP BY cluster, rack, node, gpu_index, uuid
)
SELECT h, e.cluster, e.rack, e.node, e.gpu_index, e.uuid, sum(e.samples) OVER (PARTITION BY e.cluster, e.rack),
    p.busy_minutes, p.slow_minutes, p.clock_minutes, p.clock_mhz_sum, p.rack_clock_minutes, p.rack_clock_mhz_sum,
    p.util_pct_sum, p.rack_util_pct_sum, now64(3)
FROM everyone AS e
LEFT JOIN partials AS p ON p.cluster = e.cluster AND p.rack = e.rack AND p.uuid = e.uuid
""",
    "storage/straggler_hours.py",
)


class _Store(Protocol):
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any: ...

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any: ...


def refresh(store: _Store, hours_s: Iterable[int]) -> None:
    """Compute gpu_straggler_hour for each clock hour (epoch s of its start) from gpu_minute."""
    for hour_s in hours_s:
        store.command(REFRESH_SQL, {"hour_s": hour_s})


def due(ts_ms: npt.NDArray[np.int64], done: set[int]) -> list[int]:
    """The hours (epoch s) to compute after an insert of samples at `ts_ms`, given the hours
    this writer computed before (`done`).

    Only hours that hold rows of the insert: an hour between them gained nothing. A frame
    whose rows span months (a node with a broken clock, the window opened wide) is one
    query per hour it holds rows in, not one per hour of its span (2,424 for 101 days: 150 s
    on 2 cores, measured).
    """
    # Counted, not sorted: a delivery's rows are hours apart at most, and np.unique's sort of
    # 240,000 timestamps took 5.7 ms against 0.75 ms for this (measured, one core).
    hour_index = ts_ms // (1000 * HOUR_S)
    first_index = int(hour_index.min())
    held = (first_index + np.flatnonzero(np.bincount(hour_index - first_index))) * HOUR_S
    first_h, last_h = int(held[0]), int(held[-1])
    hours = {int(h) for h in held if h < last_h or h in done}
    if first_h - HOUR_S not in done:
        hours.add(first_h - HOUR_S)
    return sorted(hours)


class StragglerHours:
    """One writer's bookkeeping: which hours it computed, and whether the store has 018."""

    def __init__(self) -> None:
        self.done: set[int] = set()
        self._enabled: bool | None = None

    def after_insert(self, store: _Store, frame: GpuFrame) -> None:
        if not len(frame) or not self._has_table(store):
            return
        hours = due(frame.ts_ms, self.done)
        try:
            refresh(store, hours)
        except Exception as exc:  # a user without the grants: the query computes those hours itself
            if getattr(exc, "code", None) != _ACCESS_DENIED:
                raise
            log.warning("gpu_straggler_hour not computed (grant INSERT on it, SELECT on gpu_minute): %s", exc)
            self._enabled = False
            return
        self.done.update(hours)
        newest = max(self.done)
        self.done = {h for h in self.done if h >= newest - KEEP_S}

    def schema_changed(self) -> None:
        self._enabled = None

    def _has_table(self, store: _Store) -> bool:
        if self._enabled is None:
            try:
                rows = store.query(f"SELECT count() FROM gpufleet_migrations WHERE version >= {VERSION}").rows
            except Exception as exc:  # a store never migrated has no record: nothing to compute
                if getattr(exc, "code", None) != _UNKNOWN_TABLE:
                    raise
                rows = [(0,)]
            self._enabled = bool(rows[0][0])
        return self._enabled
