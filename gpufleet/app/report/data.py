"""What the report shows, read from the store by named queries only.

Every figure comes from a file in `storage/sql/queries/` (the shared ones the CLI, the demo
and the dashboards read, plus `report_*.sql` for what only the report needs), and every one
of those reads rollups (`gpu_minute`, `power_fleet_1s`, `facility_minute`) or small tables
(events, dead letters), never a scan of raw samples: a 24 h report of a large fleet must not
read billions of rows. The alert section is the exception by design: it runs the alert
rules' own SQL (`gpufleet.app.report.alerts`), the same as `gpufleet alerts check`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet.app.report.floor import RackCell, floor_cells
from gpufleet.contract.errors import ConfigError
from storage import queries
from storage.base import QueryResult, Store

DAY_MS = 86_400_000
MAX_POWER_POINTS = 1_500  # points on the power curve: a 24 h window is averaged per minute
MAX_TEMP_POINTS = 360
MAX_XID_BARS = 96
MARKS_PER_KIND = 3  # largest rises, falls and dips marked on the power plot
REQUIRED_TABLES = ("gpu_minute", "gpu_hour", "power_fleet_1s", "gpu_events", "dead_letters", "facility_minute", "xid_catalog")


@dataclass(frozen=True, slots=True)
class Window:
    """The report's time window, epoch milliseconds UTC, both ends included."""

    from_ms: int
    to_ms: int

    @property
    def span_s(self) -> int:
        return max(1, (self.to_ms - self.from_ms) // 1000)

    def params(self) -> dict[str, int]:
        return {"from_ms": self.from_ms, "to_ms": self.to_ms}

    def step_s(self, max_points: int, multiple_s: int = 1) -> int:
        """The smallest step (a multiple of `multiple_s`) that keeps the window under `max_points`."""
        per_point = -(-self.span_s // max_points)
        return max(multiple_s, -(-per_point // multiple_s) * multiple_s)


@dataclass(frozen=True, slots=True)
class PowerMark:
    """A point the power plot marks: a ramp (rise or fall, MW/s) or a dip below the recent peak (MW)."""

    kind: str  # "rise" | "fall" | "dip" | "reporting loss" (a dip where GPUs stopped reporting)
    at: dt.datetime
    megawatts: float  # fleet power at that second
    size: float  # MW/s for ramps, MW for dips


@dataclass(slots=True)
class ReportData:
    window: Window
    extent: tuple[dt.datetime, dt.datetime]  # first and last second the store holds
    pipeline: dict[str, Any]
    power_series: QueryResult
    power_marks: list[PowerMark]
    swing: dict[str, Any]
    energy_mwh: float
    temps: QueryResult
    floor: list[RackCell]
    xid_timeline: QueryResult
    xid_step_s: int
    xid_events: QueryResult
    xid_summary: QueryResult
    throttled: QueryResult
    stragglers: QueryResult
    dead_letters: QueryResult
    activity: QueryResult  # activity_summary: fleet means, stalled and recovering GPU counts
    stalled: QueryResult
    recovering: QueryResult
    xid_bursts: QueryResult
    top_jobs: QueryResult = field(default_factory=lambda: QueryResult([], []))  # job attribution (docs/jobs.md)
    interrupted_jobs: QueryResult = field(default_factory=lambda: QueryResult([], []))


def records(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _one(store: Store, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    rows = records(queries.run(store, name, params))
    return rows[0] if rows else {}


def epoch_ms(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp() * 1000)


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_schema(store: Store) -> None:
    """`ConfigError` (exit 2) when the store has no gpufleet tables: an empty or unmigrated store."""
    rows = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}",
        {"names": list(REQUIRED_TABLES)},
    ).rows
    missing = sorted(set(REQUIRED_TABLES) - {str(r[0]) for r in rows})
    if missing:
        raise ConfigError(f"the store has no gpufleet data (tables {missing!r} missing): run `gpufleet demo` or ingest first")


def resolve_window(store: Store, from_ms: int | None, to_ms: int | None) -> tuple[Window, tuple[dt.datetime, dt.datetime]]:
    """The window asked for; an open end defaults to the data: up to the last stored second,
    from 24 h before it or the first stored second, whichever is later."""
    check_schema(store)
    extent = _one(store, "report_extent", {})
    if not extent or not extent["seconds"]:
        raise ConfigError("the store holds no GPU samples: run `gpufleet demo` or ingest first, then report")
    first, last = extent["first_ts"], extent["last_ts"]
    end = to_ms if to_ms is not None else epoch_ms(last) + 999  # the whole last second
    start = from_ms if from_ms is not None else max(epoch_ms(first), end - DAY_MS)
    if start >= end:
        raise ConfigError(f"--from {iso(start)} is not before --to {iso(end)}")
    return Window(start, end), (first, last)


def collect(store: Store, window: Window, extent: tuple[dt.datetime, dt.datetime]) -> ReportData:
    """Run every named query the report needs; `ConfigError` when the window holds no samples."""
    w = window.params()
    pipeline = _one(store, "report_pipeline", w)
    if not pipeline.get("gpu_rows"):
        held = f"{extent[0]:%Y-%m-%d %H:%M:%S} to {extent[1]:%Y-%m-%d %H:%M:%S} UTC"
        raise ConfigError(f"no GPU samples between {iso(window.from_ms)} and {iso(window.to_ms)}; the store holds {held}")
    xid_step_s = window.step_s(MAX_XID_BARS, 60)
    return ReportData(
        window=window,
        extent=extent,
        pipeline=pipeline,
        power_series=queries.run(store, "fleet_power_series", {**w, "step_s": window.step_s(MAX_POWER_POINTS)}),
        power_marks=power_marks(queries.run(store, "report_power_marks", {**w, "span_s": 60})),
        swing=_one(store, "power_swing", {**w, "span_s": 60}),
        energy_mwh=float(_one(store, "report_energy", w).get("energy_megawatt_hours") or 0.0),
        temps=queries.run(store, "report_temp_bands", {**w, "step_s": window.step_s(MAX_TEMP_POINTS, 60)}),
        floor=floor_cells(queries.run(store, "report_rack_floor", w), queries.run(store, "report_rack_coolant", w)),
        xid_timeline=queries.run(store, "report_xid_timeline", {**w, "step_s": xid_step_s}),
        xid_step_s=xid_step_s,
        xid_events=queries.run(store, "report_xid_events", {**w, "limit": 200}),
        xid_summary=queries.run(store, "xid_summary", w),
        throttled=queries.run(store, "report_throttled", {**w, "min_s": 1, "limit": 50}),
        stragglers=queries.run(store, "report_stragglers", {**w, "limit": 50}),
        dead_letters=queries.run(store, "report_dead_letters", {**w, "limit": 20}),
        top_jobs=queries.run(store, "job_top_energy", {**w, "cluster": "", "limit": 20}),
        interrupted_jobs=queries.run(store, "job_interruptions", {**w, "cluster": "", "limit": 50}),
        activity=queries.run(store, "activity_summary", w),
        stalled=queries.run(store, "stalled_gpus", {**w, "limit": 50}),
        recovering=queries.run(store, "recovery_gpus", w),
        xid_bursts=queries.run(store, "xid_bursts", {**w, "limit": 100}),
    )


def power_marks(per_minute: QueryResult, per_kind: int = MARKS_PER_KIND) -> list[PowerMark]:
    """The largest rises, falls and dips, at most one per minute each, so that one long
    checkpoint does not take every mark."""
    rows = records(per_minute)
    out: list[PowerMark] = []
    for kind, size, at, level in (
        ("rise", "rise_megawatts_per_s", "rise_at", "rise_to_megawatts"),
        ("fall", "fall_megawatts_per_s", "fall_at", "fall_to_megawatts"),
        ("dip", "dip_megawatts", "dip_at", "dip_trough_megawatts"),
    ):
        ranked = sorted((r for r in rows if r[size] and r[size] > 0), key=lambda r: -float(r[size]))[:per_kind]
        for r in ranked:
            lost = kind == "dip" and _reporting_loss(r)
            out.append(PowerMark("reporting loss" if lost else kind, r[at], float(r[level]), float(r[size])))
    return out


def _reporting_loss(row: Mapping[str, Any]) -> bool:
    """A dip mostly explained by GPUs that stopped reporting (their share of the peak is at
    least half the drop), not by GPUs drawing less: a silent node is not a checkpoint."""
    peak_gpus, trough_gpus = int(row["gpus_at_peak"]), int(row["gpus_at_trough"])
    if peak_gpus <= 0 or trough_gpus >= peak_gpus:
        return False
    peak_megawatts = float(row["dip_trough_megawatts"]) + float(row["dip_megawatts"])
    return (peak_gpus - trough_gpus) / peak_gpus * peak_megawatts >= 0.5 * float(row["dip_megawatts"])
