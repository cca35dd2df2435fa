"""report.html: one self-contained page, readable offline and attachable to a ticket.

Images are embedded as `data:` URIs, the style sheet is inline, and there are no scripts,
fonts, links or other network references: the page must render the same on an air-gapped
laptop a year from now. Every value from the store is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Iterable, Sequence
from typing import Any

from dashboards.evaluate import AlertInstance, summary_rows
from gpufleet.app.report.alerts import AlertCoverage, FiredAlert
from gpufleet.app.report.data import ReportData, iso, records
from gpufleet.app.report.floor import hottest
from gpufleet.app.report.plots import Image
from gpufleet.contract.recovery import recovery_action

MAX_PLACES = 12  # nodes listed per alert rule before "+N more" (report.json has every instance)
STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1f4e79; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef2f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.critical { color: #c0392b; font-weight: bold; } .warning { color: #b9770e; } .info { color: #566573; }
.note { color: #555; font-size: 0.85em; } img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.glance td:first-child { font-weight: bold; }
"""


def _esc(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "none") -> str:
    body = []
    for row in rows:
        cells = []
        for value in row:
            css = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
            if value in ("critical", "warning", "info"):
                css = f' class="{value}"'
            cells.append(f"<td{css}>{_esc(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return f'<p class="note">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(image: Image) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    return (
        f'<p><img src="data:image/png;base64,{data}" width="{image.width}" height="{image.height}" '
        f'alt="{html.escape(image.title)}" title="{html.escape(image.title)}"></p>'
    )


def _pick(result_rows: list[dict[str, Any]], keys: Sequence[str]) -> list[list[Any]]:
    return [[r[k] for k in keys] for r in result_rows]


def render(data: ReportData, images: Sequence[Image], alerts: Sequence[FiredAlert], coverage: AlertCoverage) -> str:
    by_name = {i.name: i for i in images}
    w = data.window
    sections = [
        f"<h1>gpufleet fleet report</h1><p>{html.escape(iso(w.from_ms))} to {html.escape(iso(w.to_ms))} "
        f"({w.span_s / 3600:.2f} h). Generated {html.escape(dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC'))} "
        f"by <code>gpufleet report</code>; every figure comes from the named queries in "
        f"<code>storage/sql/queries/</code>, read from rollups.</p>",
        _glance(data, alerts),
        "<h2>Fleet power</h2>" + _img(by_name["power.png"]) + _power_marks(data),
        "<h2>Floor map</h2>" + _floor(data, by_name),
        "<h2>GPU and HBM temperature</h2>" + _img(by_name["temperatures.png"]) + '<p class="note">Shaded: p50–p99 of every '
        "sample in each step (dark) and coldest to hottest GPU (light), from the per-minute rollup.</p>",
        "<h2>What the GPUs did</h2>" + _activity(data),
        "<h2>XID events</h2>" + _img(by_name["xids.png"]) + _xids(data),
        "<h2>Alerts fired in the window</h2>" + _alerts(alerts, coverage),
        "<h2>Stragglers and throttled GPUs</h2>" + _slow(data),
        "<h2>Jobs</h2>" + _jobs(data),
        "<h2>Pipeline health</h2>" + _pipeline(data),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gpufleet report {html.escape(iso(w.from_ms))}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )


def _glance(data: ReportData, alerts: Sequence[FiredAlert]) -> str:
    p = data.pipeline
    top = hottest(data.floor)
    fatal = sum(int(r["events"]) for r in records(data.xid_summary) if r["fatal"])
    events = sum(int(r["events"]) for r in records(data.xid_summary))
    critical = sum(1 for a in alerts if a.severity == "critical")
    rows = [
        ("GPUs / nodes reporting", f"{p['gpus']:,} / {p['nodes']:,}"),
        ("fleet power peak / low", "{:.3f} / {:.3f} MW".format(*_peak_low(data))),
        ("energy used", f"{data.energy_mwh:,.3f} MWh"),
        ("hottest rack", f"{top.hall} {top.row} {top.rack}: {top.peak_gpu_temp_c:.0f} °C" if top else "no temperatures"),
        ("XID events (fatal)", f"{events:,} ({fatal:,})"),
        ("SM / tensor activity, fleet mean", _activity_means(data)),
        ("GPUs stalled / needing recovery", f"{len(data.stalled.rows):,} / {len(data.recovering.rows):,}"),
        ("alert instances fired (critical)", f"{len(alerts):,} ({critical:,})"),
        ("GPUs throttled / stragglers", f"{_throttled_count(data):,} / {len(data.stragglers.rows):,}"),
        ("dead letters", f"{p['dead_letters']:,}"),
    ]
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<h2>At a glance</h2><table class="glance">{body}</table>'


def _activity_means(data: ReportData) -> str:
    a = (records(data.activity) or [{}])[0]
    if a.get("sm_active_pct") is None:
        return "no GPM data (pre-Hopper GPUs or an older collector)"
    return f"{a['sm_active_pct']:.1f} % / {a['tensor_active_pct']:.1f} % (utilization.gpu {a['util_gpu_pct']:.1f} %)"


def _activity(data: ReportData) -> str:
    stalled = _pick(records(data.stalled), ["rack", "node", "gpu_index", "stalled_samples", "avg_util_pct", "avg_sm_active_pct"])
    recovering = []
    for r in records(data.recovering):
        action = recovery_action(int(r["action"]))
        recovering.append([r["rack"], r["node"], r["gpu_index"], action.name, r["changed_at"], action.runbook])
    return (
        f'<p class="note">GPM activity (Hopper and newer): SM / tensor activity {html.escape(_activity_means(data))}. '
        "A stalled GPU reads utilization.gpu >= 90 % while its SMs are <= 5 % active (a hung kernel or collective).</p>"
        + "<h3>Stalled GPUs</h3>"
        + table(["rack", "node", "GPU", "stalled samples", "util %", "SM active %"], stalled, "No stalled GPUs.")
        + "<h3>GPUs whose driver asks for recovery</h3>"
        + table(["rack", "node", "GPU", "action", "since (UTC)", "runbook"], recovering, "No recovery actions.")
    )


def _throttled_count(data: ReportData) -> int:
    listed = records(data.throttled)
    return int(listed[0]["gpus_in_all"]) if listed else 0


def _peak_low(data: ReportData) -> tuple[float, float]:
    rows = records(data.power_series)
    peaks = [float(r["peak_megawatts"]) for r in rows]
    lows = [float(r["low_megawatts"]) for r in rows]
    return (max(peaks), min(lows)) if rows else (0.0, 0.0)


def _power_marks(data: ReportData) -> str:
    rows = [
        (m.kind, m.at, round(m.megawatts, 3), round(m.size, 3), "MW/s" if m.kind in ("rise", "fall") else "MW")
        for m in data.power_marks
    ]
    note = (
        '<p class="note">Marked: the largest per-second rises and falls (MW/s) and the deepest drops below the previous '
        "60 s peak (checkpoint dips), at most one of each per minute. A dip where fewer GPUs reported at the trough than at "
        "the peak is marked as a reporting loss, not load.</p>"
    )
    return note + table(["mark", "at (UTC)", "fleet MW", "size", "unit"], rows)


def _floor(data: ReportData, by_name: dict[str, Image]) -> str:
    out = _img(by_name["floor_gpu_temp.png"])
    if "floor_coolant.png" in by_name:
        out += _img(by_name["floor_coolant.png"])
    else:
        out += '<p class="note">No facility (CDU) readings in the window: coolant supply temperature not shown.</p>'
    racks = sorted(data.floor, key=lambda c: -(c.peak_gpu_temp_c or 0.0))[:10]
    rows = [
        (
            c.hall,
            c.row,
            c.rack,
            c.peak_gpu_temp_c,
            c.peak_hbm_temp_c,
            c.mean_gpu_temp_c,
            c.gpus_throttled,
            c.gpus,
            c.peak_supply_c,
        )
        for c in racks
    ]
    columns = ["hall", "row", "rack", "peak GPU °C", "peak HBM °C", "mean GPU °C", "GPUs throttled", "GPUs", "peak supply °C"]
    return out + "<h3>Hottest racks</h3>" + table(columns, [[("–" if v is None else v) for v in r] for r in rows])


def _xids(data: ReportData) -> str:
    summary = _pick(records(data.xid_summary), ["xid", "mnemonic", "severity", "events", "gpus", "nodes", "action"])
    events = _pick(
        records(data.xid_events),
        ["ts", "hall", "rack", "node", "gpu_index", "xid", "mnemonic", "severity", "meaning", "action"],
    )
    shown = f" (the {len(events)} shown: fatal first, then newest)" if len(events) >= 200 else ""
    bursts = [
        [r["first_ts"], r["last_ts"], r["rack"], r["node"], r["gpu_index"], r["events"], ",".join(map(str, r["xids"])),
         "yes" if r["fatal"] else "", ", ".join(r["actions"])]
        for r in records(data.xid_bursts)
    ]  # fmt: skip
    return (
        '<h3>Bursts</h3><p class="note">A GPU\'s XIDs form one burst until more than 3 minutes pass without one; '
        "the Fatal XID alert pages once per burst.</p>"
        + table(["first (UTC)", "last (UTC)", "rack", "node", "GPU", "XIDs", "codes", "fatal", "actions"], bursts, "No XIDs.")
        + "<h3>By code</h3>"
        + table(["xid", "mnemonic", "severity", "events", "GPUs", "nodes", "recommended action"], summary, "No XID events.")
        + f"<h3>What happened where{shown}</h3>"
        + table(
            ["at (UTC)", "hall", "rack", "node", "GPU", "xid", "mnemonic", "severity", "meaning", "recommended action"],
            events,
            "No XID events.",
        )
    )


def _alerts(alerts: Sequence[FiredAlert], coverage: AlertCoverage) -> str:
    # The same one-line-per-rule summary as `gpufleet alerts check` (a rack on fire is one line, not 64).
    instances = [AlertInstance(a.rule, a.title, a.severity, a.labels, a.value) for a in alerts]
    rows = summary_rows(instances, max_places=MAX_PLACES)
    how = (
        "each rule evaluated at instants whose look-back windows cover the whole report window"
        if coverage.complete
        else "the window is longer than the rules' look-back windows cover within the evaluation cap, so each rule was "
        "evaluated at evenly spaced instants that sample the window"
    )
    note = (
        f'<p class="note">The alert rules of <code>gpufleet alerts check</code> ({coverage.evaluations} evaluations: {how}). '
        "Grafana's pending period is not modelled. Every instance is listed in report.json.</p>"
    )
    return note + table(["severity", "alert", "instances", "where"], rows, "No alerts fired.")


def _slow(data: ReportData) -> str:
    stragglers = _pick(
        records(data.stragglers),
        ["rack", "node", "gpu_index", "avg_sm_clock_mhz", "node_median_sm_clock_mhz", "pct_of_node", "avg_util_pct"],
    )
    listed = records(data.throttled)
    throttled = _pick(
        listed,
        ["rack", "node", "gpu_index", "why", "thermal_s", "power_brake_s", "power_cap_s", "hw_slowdown_s", "peak_gpu_temp_c"],
    )
    total = _throttled_count(data)
    shown = f" ({total:,} in all, the {len(listed)} most throttled shown)" if total > len(listed) else ""
    return (
        '<h3>Stragglers</h3><p class="note">Busy GPUs (utilization over 20 %) whose mean SM clock over the window stayed '
        "under 90 % of their node's median, with no thermal, power-brake or hardware-slowdown time to explain it.</p>"
        + table(["rack", "node", "GPU", "SM MHz", "node median MHz", "% of node", "util %"], stragglers)
        + f"<h3>Throttled GPUs{shown}</h3>"
        + table(
            ["rack", "node", "GPU", "why", "thermal s", "power brake s", "power cap s", "hw slowdown s", "peak °C"], throttled
        )
    )


def _jobs(data: ReportData) -> str:
    top = _pick(records(data.top_jobs), ["job_id", "user", "account", "nodes", "gpus", "energy_kwh", "mean_gpu_power_w"])
    hit = _pick(records(data.interrupted_jobs), ["job_id", "user", "state", "xids", "gpus_lost", "xid_codes", "first_event"])
    return (
        '<p class="note">Samples are attributed to jobs by their intervals (Slurm, Kubernetes or mapping files; '
        "docs/jobs.md); energy from the GPUs' counters over the minutes each job held them.</p>"
        + "<h3>Top jobs by energy</h3>"
        + table(["job", "user", "account", "nodes", "GPUs", "kWh", "mean W per GPU"], top, "No job assignments in the window.")
        + "<h3>Interrupted jobs</h3>"
        + table(["job", "user", "end state", "XIDs", "GPUs lost", "codes", "first event"], hit, "No job was interrupted.")
    )


def _pipeline(data: ReportData) -> str:
    p = data.pipeline
    rows = [
        ("GPU rows stored", p["gpu_rows"]),
        ("GPUs / nodes", f"{p['gpus']:,} / {p['nodes']:,}"),
        ("newest sample", p["newest_sample"]),
        ("freshness at window end", f"{p['freshness_s']:,} s"),
        ("events stored", p["events"]),
        ("facility readings stored", p["facility_readings"]),
        ("dead letters", p["dead_letters"]),
        ("data held in the store", f"{data.extent[0]:%Y-%m-%d %H:%M:%S} to {data.extent[1]:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    letters = _pick(records(data.dead_letters), ["source", "reason", "letters", "first_seen", "last_seen"])
    return table(["measure", "value"], rows) + table(
        ["source", "reason", "letters", "first", "last"], letters, "No dead letters."
    )
