"""`gpufleet demo`: a synthetic fleet through the whole embedded pipeline, watched live.

synthetic fleet → agent (thread) → in-process transport → ingest → chDB, then a summary
computed by the named queries from what was stored. Everything here is wiring; the parts
live in collectors/, pipeline/ and storage/.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from collectors.agent import Agent, AgentStats
from collectors.base import SourceConfig, create_source
from collectors.facility.synthetic import SyntheticFacility
from collectors.synthetic.scheduler import JobsAlongside, SyntheticScheduler
from collectors.synthetic.source import SyntheticSource
from gpufleet.contract.recovery import recovery_action
from gpufleet.contract.times import TimeWindow
from gpufleet.contract.xids import lookup
from pipeline.ingest import Ingest, IngestStats
from pipeline.memory import MemoryBroker
from pipeline.registry import TransportConfig, create_transport
from storage import queries
from storage.base import QueryResult, Store
from storage.migrations import migrate
from storage.registry import open_store

DEMO_STALL_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class DemoOptions:
    gpus: int = 2048
    duration_s: float = 60.0
    interval_s: float = 1.0
    speed: float = 1.0  # 0: as fast as possible
    data_dir: Path = Path("gpufleet-data")
    seed: int = 0
    scenario: str = "default"
    cluster: str = "colossus"
    raw_ttl_days: int = 14
    report_dir: Path | None = None  # where `gpufleet report` writes the run's report; None: no report
    start_ms: int | None = None  # the fleet's first tick; None: now (speed 1) or as far back as the run is long

    @property
    def ticks(self) -> int:
        fleet_s = self.duration_s * (self.speed if self.speed > 0 else 1.0)
        return max(1, int(fleet_s / self.interval_s))


@dataclass(slots=True)
class DemoResult:
    start_ms: int
    end_ms: int
    agent: AgentStats
    ingest: IngestStats
    wall_s: float  # first tick to last commit: the pipeline's own time, without setup and summary
    cpu_s: float = 0.0  # process CPU-seconds over the same span, every thread (chDB's included)
    summary: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None  # report.html, when opts.report_dir was given


def run_demo(opts: DemoOptions, console: Console | None = None, store_dsn: str | None = None) -> DemoResult:
    """Run the fleet for `opts.ticks` ticks, store everything, return counts and summary."""
    console = console or Console(stderr=True)
    store = open_store(store_dsn or f"chdb://{opts.data_dir.resolve()}")
    migrate(store, raw_ttl_days=opts.raw_ttl_days)
    interval_ms = round(opts.interval_s * 1000)
    now_ms = int(time.time()) * 1000
    # Faster than real time, the fleet's clock is laid out to end now, so "now" queries
    # and alert windows see the run; in real time it starts now.
    start_ms = opts.start_ms if opts.start_ms is not None else now_ms - (0 if opts.speed == 1 else opts.ticks * interval_ms)
    source = create_source(
        SourceConfig(
            kind="synthetic",
            gpus=opts.gpus,
            seed=opts.seed,
            scenario=opts.scenario,
            start_ms=start_ms,
            interval_s=opts.interval_s,
            run_s=opts.ticks * opts.interval_s,
            cluster=opts.cluster,
        )
    )
    window = TimeWindow.of(opts.raw_ttl_days, opts.interval_s + 300)
    # the memory transport is also ingest's subscription
    broker = cast(MemoryBroker, create_transport(TransportConfig(kind="memory", time_window=window)))
    facility = SyntheticFacility(source.fleet, site=opts.cluster) if isinstance(source, SyntheticSource) else None
    if isinstance(source, SyntheticSource):  # the fleet's jobs, as a scheduler would report them
        source = JobsAlongside(source, SyntheticScheduler(source.fleet, opts.seed), broker)
    agent = Agent(source, broker, opts.interval_s, opts.speed, facility=facility)
    ingest = Ingest(broker, store)
    started, cpu_started = time.monotonic(), time.process_time()
    producer = threading.Thread(target=agent.run, args=(opts.ticks, start_ms), name="agent", daemon=True)
    producer.start()
    with Live(_progress(opts, agent.stats, ingest.stats, started), console=console, refresh_per_second=4) as live:
        while producer.is_alive() or broker.backlog:
            ingest.step(timeout_s=0.2)
            live.update(_progress(opts, agent.stats, ingest.stats, started))
    producer.join()
    end_ms = start_ms + (opts.ticks - 1) * interval_ms
    wall_s, cpu_s = time.monotonic() - started, time.process_time() - cpu_started
    result = DemoResult(start_ms, end_ms, agent.stats, ingest.stats, wall_s, cpu_s)
    result.summary = summarize(store, start_ms, end_ms)
    if opts.report_dir is not None:
        from gpufleet.app.report.build import ReportOptions, write_report  # matplotlib: only when a report is asked for

        result.report = write_report(store, ReportOptions(opts.report_dir, start_ms, end_ms + 999)).html_path
    store.close()
    return result


def _progress(opts: DemoOptions, agent: AgentStats, ingest: IngestStats, started: float) -> Table:
    elapsed = max(time.monotonic() - started, 1e-6)
    table = Table(title=f"gpufleet demo: {opts.gpus:,} synthetic GPUs, scenario {opts.scenario!r}", show_header=False)
    table.add_row("fleet ticks", f"{agent.ticks:,} / {opts.ticks:,}")
    table.add_row("GPUs reporting (last tick)", f"{(agent.rows // agent.ticks) if agent.ticks else 0:,}")
    table.add_row("samples/s (stored)", f"{ingest.rows / elapsed:,.0f}")
    table.add_row("rows stored", f"{ingest.rows:,}")
    table.add_row("events stored", f"{ingest.events:,}")
    table.add_row("facility readings stored", f"{ingest.facility:,}")
    table.add_row("job starts/ends stored", f"{ingest.jobs:,}")
    table.add_row("dead letters", f"{ingest.dead_letters:,}")
    table.add_row("freshness lag", f"{ingest.freshness_s:.2f} s (max {ingest.freshness_max_s:.2f} s)")
    return table


def summarize(store: Store, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The demo's closing numbers, each from a named query over [start_ms, end_ms]."""
    window = {"from_ms": start_ms, "to_ms": end_ms}
    power = queries.run(store, "fleet_power", window)
    energy = queries.run(store, "energy", window)
    totals = queries.run(store, "run_totals", window)
    return {
        "power": dict(zip(power.columns, power.rows[0], strict=True)),
        "energy": dict(zip(energy.columns, energy.rows[0], strict=True)),
        "totals": dict(zip(totals.columns, totals.rows[0], strict=True)),
        "hottest": queries.run(store, "hottest_gpus", {**window, "limit": 5}),
        "faulty": queries.run(store, "faulty_gpus", window),
        "xids": queries.run(store, "xid_summary", window),
        # a demo is short: list GPUs busy with idle SMs for 10 samples (the alert waits for 2 min)
        "activity": records(queries.run(store, "activity_summary", {**window, "stall_min_samples": DEMO_STALL_SAMPLES}))[0],
        "stalled": queries.run(store, "stalled_gpus", {**window, "min_samples": DEMO_STALL_SAMPLES}),
        "recovering": queries.run(store, "recovery_gpus", window),
        "alerts": firing_alerts(store, end_ms),
        "top_jobs": queries.run(store, "job_top_energy", {**window, "limit": 5}),
        "interrupted_jobs": queries.run(store, "job_interruptions", {**window, "limit": 10}),
    }


def records(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def firing_alerts(store: Store, at_ms: int) -> QueryResult:
    """The Grafana alert rules evaluated at the end of the run (`gpufleet alerts check`)."""
    from dashboards.evaluate import evaluate, summary_rows

    return QueryResult(["severity", "alert", "instances", "where"], list(summary_rows(evaluate(store, at_ms))))


def render_summary(result: DemoResult, console: Console) -> None:
    s = result.summary
    power, energy, totals = s["power"], s["energy"], s["totals"]
    head = Table(title="Fleet summary", show_header=False)
    head.add_row("GPU rows stored", f"{totals['gpu_rows']:,} ({totals['gpus']:,} GPUs, {totals['ticks']:,} ticks)")
    head.add_row("fleet power now / peak / low", _mw(power, "now_megawatts", "peak_megawatts", "low_megawatts"))
    head.add_row("energy used", f"{energy['energy_megawatt_hours']:.3f} MWh")
    head.add_row("events / dead letters", f"{totals['events']:,} / {totals['dead_letters']:,}")
    head.add_row("fleet SM / tensor activity (GPM)", _activity(s["activity"]))
    head.add_row("GPUs stalled / needing recovery", f"{len(s['stalled'].rows):,} / {len(s['recovering'].rows):,}")
    head.add_row("wall time, stored rows/s", f"{result.wall_s:.1f} s, {result.ingest.rows / result.wall_s:,.0f}")
    alerts = _table(f"Firing alerts ({sum(r[2] for r in s['alerts'].rows)} instances)", s["alerts"])
    parts = [head, _table("Hottest GPUs", s["hottest"]), _faults(s["faulty"]), _xids(s["xids"])]
    if s["stalled"].rows:
        parts.append(_table(f"Stalled GPUs (busy with idle SMs for >= {DEMO_STALL_SAMPLES} samples)", s["stalled"]))
    if s["recovering"].rows:
        parts.append(_recovering(s["recovering"]))
    parts += [
        _table("Top jobs by energy", _without(s["top_jobs"], "cluster")),
        _table("Interrupted jobs (XIDs or GPUs lost while they ran)", _without(s["interrupted_jobs"], "cluster", "first_event")),
    ]
    console.print(Group(*parts, alerts))


def _activity(row: dict[str, Any]) -> str:
    if row.get("sm_active_pct") is None:
        return "no GPM data"
    return f"{row['sm_active_pct']:.1f} % / {row['tensor_active_pct']:.1f} % (utilization {row['util_gpu_pct']:.1f} %)"


def _recovering(result: QueryResult) -> Table:
    table = Table(title="GPUs whose driver asks for recovery")
    for column in ("node", "GPU", "action", "what to do"):
        table.add_column(column)
    for record in records(result):
        action = recovery_action(int(record["action"]))
        table.add_row(str(record["node"]), str(record["gpu_index"]), action.name, action.runbook)
    return table


def _mw(row: dict[str, Any], *keys: str) -> str:
    return " / ".join(f"{row[k]:.3f} MW" for k in keys)


def _table(title: str, result: QueryResult) -> Table:
    table = Table(title=title)
    for column in result.columns:
        table.add_column(column)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    return table


def _without(result: QueryResult, *columns: str) -> QueryResult:
    keep = [i for i, c in enumerate(result.columns) if c not in columns]
    return QueryResult([result.columns[i] for i in keep], [tuple(row[i] for i in keep) for row in result.rows])


def _faults(result: QueryResult) -> Table:
    """One line per node and kind of fault, with the GPUs it hit."""
    flags = ("thermal_throttle", "power_brake", "new_uncorrectable_ecc", "remap_pending", "remap_failure", "stopped_reporting")
    grouped: dict[tuple[str, str], list[str]] = {}
    for row in result.rows:
        record = dict(zip(result.columns, row, strict=True))
        seen = ", ".join(f for f in flags if record[f])
        grouped.setdefault((record["node"], seen), []).append(str(record["gpu_index"]))
    table = Table(title=f"GPUs with faults: {len(result.rows)} GPUs on {len({n for n, _ in grouped})} nodes")
    for column in ("node", "GPUs", "what"):
        table.add_column(column)
    for (node, seen), gpus in grouped.items():
        table.add_row(node, ",".join(gpus), seen)
    return table


def _xids(result: QueryResult) -> Table:
    table = Table(title="XID events")
    for column in ("xid", "events", "GPUs", "meaning", "action"):
        table.add_column(column)
    for row in result.rows:
        record = dict(zip(result.columns, row, strict=True))
        info = lookup(int(record["xid"]))
        table.add_row(str(record["xid"]), str(record["events"]), str(record["gpus"]), info.meaning, info.action)
    return table
