"""The report's figures as PNG bytes, drawn with matplotlib's object API on the Agg canvas.

`matplotlib.figure.Figure` is used directly, never `pyplot`: no global figure registry, no
backend selection, nothing left open between reports. Every image has a fixed pixel size
(`SIZES`; margins are set by hand, as matplotlib's constrained layout cost a third of the
drawing time), so the HTML can state width and height and a test
can check them. Fleets are drawn aggregated (fleet totals, percentile bands, one cell per
rack), never one line per GPU, so a figure costs the same for 500 GPUs and 200,000.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.patheffects import withStroke

from gpufleet.app.report.data import ReportData, records
from gpufleet.app.report.floor import RackCell, has_coolant, hottest

DPI = 100
SIZES: dict[str, tuple[int, int]] = {
    "power.png": (1100, 560),
    "floor_gpu_temp.png": (1100, 520),
    "floor_coolant.png": (1100, 520),
    "temperatures.png": (1100, 560),
    "xids.png": (1100, 360),
}
SEVERITY_COLOURS = {"critical": "#c0392b", "warning": "#e67e22", "info": "#7f8c8d"}
MARK_STYLES = {  # marker, colour, label
    "rise": ("^", "#c0392b", "largest rise"),
    "fall": ("v", "#2471a3", "largest fall"),
    "dip": ("X", "#8e44ad", "checkpoint dip"),
    "reporting loss": ("X", "#7f8c8d", "dip: GPUs stopped reporting"),
}
_OUTLINE = withStroke(linewidth=2, foreground="#000000")
ANNOTATE_CELLS_UP_TO = 96  # racks per hall; beyond this, numbers in cells are unreadable


@dataclass(frozen=True, slots=True)
class Image:
    name: str  # file name beside report.html
    title: str
    png: bytes
    width: int
    height: int


def _figure(name: str, **margins: float) -> Figure:
    width, height = SIZES[name]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    fig.subplots_adjust(**{"left": 0.065, "right": 0.98, "bottom": 0.1, "top": 0.9, **margins})
    return fig


def _image(fig: Figure, name: str, title: str) -> Image:
    buf = io.BytesIO()
    # No "Software" text chunk: the PNG carries pixels only (and the report no URLs at all).
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    width, height = SIZES[name]
    return Image(name, title, buf.getvalue(), width, height)


def _time_axis(ax: Axes) -> None:
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]  # matplotlib.dates has no annotations
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.grid(True, alpha=0.3)


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float("nan") if r[key] is None else float(r[key]) for r in rows]


def power_image(data: ReportData) -> Image:
    name = "power.png"
    fig = _figure(name, top=0.86, hspace=0.08)
    ax, ax_gpus = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    rows = records(data.power_series)
    t = [r["t"] for r in rows]
    if len({r["peak_megawatts"] for r in rows}) > 1 and any(r["peak_megawatts"] != r["avg_megawatts"] for r in rows):
        ax.fill_between(t, _column(rows, "low_megawatts"), _column(rows, "peak_megawatts"), alpha=0.25, label="low–peak second")
    ax.plot(t, _column(rows, "avg_megawatts"), lw=1.0, color="#1f4e79", label="fleet power")
    for kind, (marker, colour, label) in MARK_STYLES.items():
        marks = [m for m in data.power_marks if m.kind == kind]
        if not marks:
            continue
        ax.scatter([m.at for m in marks], [m.megawatts for m in marks], marker=marker, s=70, color=colour, zorder=5, label=label)
        unit = "MW/s" if kind in ("rise", "fall") else "MW"
        for m in marks[:1]:  # the largest of each kind is labelled, the rest are in the table under the plot
            ax.annotate(
                f"{m.size:.2f} {unit}", (m.at, m.megawatts), textcoords="offset points", xytext=(4, 6), fontsize=8, color=colour
            )
    peak = data.swing.get("max_rise_megawatts_per_s")
    fig.suptitle(
        f"Fleet power (MW): energy {data.energy_mwh:,.3f} MWh; steepest ramp {float(peak or 0):.2f} MW/s; "
        f"largest drop {float(data.swing.get('largest_drop_megawatts') or 0):.2f} MW within 60 s"
    )
    ax.set_ylabel("MW")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.955), fontsize=8, ncols=6)  # above the axes: hides no mark
    _time_axis(ax)
    ax_gpus.step(t, _column(rows, "gpus_reporting"), where="post", color="#555555")
    ax_gpus.set_ylabel("GPUs reporting")
    ax_gpus.ticklabel_format(axis="y", style="plain", useOffset=False)  # 10,000 GPUs, not "+1e4"
    ax_gpus.set_xlabel("time (UTC)")
    _time_axis(ax_gpus)
    return _image(fig, name, "Fleet power")


def floor_image(cells: Sequence[RackCell], coolant: bool = False) -> Image:
    """Halls side by side; in each, rows top to bottom and racks left to right, coloured by
    peak GPU temperature (or peak CDU coolant supply temperature), hottest rack outlined."""
    name = "floor_coolant.png" if coolant else "floor_gpu_temp.png"
    key = "peak_supply_c" if coolant else "peak_gpu_temp_c"
    what = "peak CDU coolant supply temperature" if coolant else "peak GPU temperature"
    fig = _figure(name, right=1.0, top=0.88, wspace=0.15)
    halls = sorted({c.hall for c in cells})
    axes = fig.subplots(1, max(1, len(halls)), squeeze=False)[0]
    values = [float(getattr(c, key)) for c in cells if getattr(c, key) is not None]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    top = hottest(list(cells), key)
    cmap = "coolwarm" if coolant else "inferno"
    image: Any = None
    for ax, hall in zip(axes, halls, strict=False):
        image = _draw_hall(ax, [c for c in cells if c.hall == hall], key, cmap, (vmin, vmax), top)
        ax.set_title(hall)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=f"{what} (°C)", shrink=0.9)
    hot = f"; hottest: {top.hall} {top.row} {top.rack} at {float(getattr(top, key)):.1f} °C" if top else ""
    fig.suptitle(f"Floor map by {what}{hot}")
    return _image(fig, name, f"Floor map: {what}")


def _draw_hall(
    ax: Axes, cells: Sequence[RackCell], key: str, cmap: str, limits: tuple[float, float], top: RackCell | None
) -> Any:
    ny, nx = max(c.y for c in cells) + 1, max(c.x for c in cells) + 1
    grid = np.full((ny, nx), np.nan)
    for c in cells:
        value = getattr(c, key)
        grid[c.y, c.x] = np.nan if value is None else float(value)
    colours = colormaps[cmap].with_extremes(bad="#dddddd")  # a rack without a reading is grey, not cold
    image = ax.imshow(grid, cmap=colours, vmin=limits[0], vmax=limits[1], aspect="auto", interpolation="nearest")
    rows = sorted({(c.y, c.row) for c in cells})
    every = max(1, len(rows) // 24)
    ax.set_yticks([y for y, _ in rows][::every], [r for _, r in rows][::every], fontsize=7)
    ax.set_xticks(range(nx), [str(x + 1) for x in range(nx)], fontsize=7)
    ax.set_xlabel("rack position in row")
    if len(cells) <= ANNOTATE_CELLS_UP_TO:
        for c in cells:
            value = getattr(c, key)
            text = f"{c.rack}\n{float(value):.0f}" if value is not None else c.rack
            # White with a dark outline reads on every colour of the map, dark and bright.
            ax.text(c.x, c.y, text, ha="center", va="center", fontsize=7, color="#ffffff", path_effects=[_OUTLINE])
    if top is not None and top in cells:
        ax.add_patch(Rectangle((top.x - 0.5, top.y - 0.5), 1, 1, fill=False, edgecolor="#00ff66", lw=2.5))
    return image


def temperatures_image(data: ReportData) -> Image:
    name = "temperatures.png"
    fig = _figure(name, left=0.06, wspace=0.16)
    rows = records(data.temps)
    t = [r["t"] for r in rows]
    few = len(rows) <= 3  # bands need two points; mark single minutes so short windows still show
    for ax, prefix, label, limit in zip(
        fig.subplots(1, 2, sharex=True),
        ("gpu", "hbm"),
        ("GPU core", "HBM"),
        ((89.0, "H100/H200 slowdown 89 °C"), (95.0, "HBM max operating 95 °C")),
        strict=True,
    ):
        low, high = _column(rows, f"{prefix}_min_c"), _column(rows, f"{prefix}_max_c")
        p50, p99 = _column(rows, f"{prefix}_p50_c"), _column(rows, f"{prefix}_p99_c")
        ax.fill_between(t, low, high, color="#f5b041", alpha=0.2, label="coldest–hottest GPU")
        ax.fill_between(t, p50, p99, color="#e67e22", alpha=0.45, label="p50–p99")
        marker = "o" if few else None
        ax.plot(t, p50, color="#1f4e79", lw=1.2, marker=marker, label="median")
        ax.plot(t, high, color="#c0392b", lw=0.8, ls="--", marker=marker, label="hottest GPU")
        ax.axhline(limit[0], color="#7b241c", lw=0.8, ls=":", label=limit[1])
        ax.set_title(f"{label} temperature across the fleet")
        ax.set_ylabel("°C")
        ax.set_xlabel("time (UTC)")
        ax.legend(loc="upper left", fontsize=8)
        _time_axis(ax)
    return _image(fig, name, "GPU and HBM temperature")


def xids_image(data: ReportData) -> Image:
    name = "xids.png"
    fig = _figure(name, bottom=0.15, top=0.88)
    ax = fig.subplots()
    rows = records(data.xid_timeline)
    width_days = data.xid_step_s / 86_400  # bar width in matplotlib's date unit (days)
    steps = sorted({r["t"] for r in rows})
    bottom = dict.fromkeys(steps, 0.0)
    severities = sorted(
        {str(r["severity"]) for r in rows}, key=lambda s: list(SEVERITY_COLOURS).index(s) if s in SEVERITY_COLOURS else 9
    )
    for severity in severities:
        counts = {r["t"]: float(r["events"]) for r in rows if r["severity"] == severity}
        xs = list(counts)
        ax.bar(
            xs,
            [counts[x] for x in xs],
            width=width_days,
            bottom=[bottom[x] for x in xs],
            align="edge",
            color=SEVERITY_COLOURS.get(severity, "#aab7b8"),
            label=severity,
        )
        for x in xs:
            bottom[x] += counts[x]
    if not rows:
        ax.text(0.5, 0.5, "No XID events in the window", transform=ax.transAxes, ha="center", va="center", fontsize=14)
        ends = np.array([data.window.from_ms, data.window.to_ms], dtype="datetime64[ms]")
        ax.plot(ends, [0, 0], alpha=0)  # an invisible line, so the time axis still spans the window
    else:
        ax.legend(title="catalog severity", fontsize=8)
    ax.set_title(f"XID events per {data.xid_step_s // 60} min by catalog severity")
    ax.set_ylabel("events")
    ax.set_xlabel("time (UTC)")
    _time_axis(ax)
    return _image(fig, name, "XID events")


def render_all(data: ReportData) -> list[Image]:
    images = [power_image(data), floor_image(data.floor), temperatures_image(data), xids_image(data)]
    if has_coolant(data.floor):
        images.insert(2, floor_image(data.floor, coolant=True))
    return images
