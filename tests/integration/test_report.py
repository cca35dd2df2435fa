"""`gpufleet report` shows each injected fault where it belongs, and nothing on a healthy fleet.

Two demo runs (default faults, and scenario `none`) write their reports through the demo's
own `report_dir`; the ground truth is the synthetic fleet replayed outside the pipeline, as
in test_demo. report.json (the structured content behind the page) is checked for where
things are, the HTML for what a reader sees, and every image by decoding it.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from collectors.synthetic.fleet import InjectedFault, SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from collectors.synthetic.scheduler import SyntheticScheduler
from gpufleet.app.cli import main
from gpufleet.app.commands.report import parse_time
from gpufleet.app.demo import DemoOptions, run_demo
from gpufleet.app.report.alerts import instants
from gpufleet.app.report.plots import SIZES
from gpufleet.contract.errors import ConfigError
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli

GPUS, TICKS, SEED = 512, 120, 7


@dataclass(slots=True)
class DemoReport:
    dsn: str
    out: Path
    start_ms: int
    end_ms: int
    truth: list[InjectedFault]
    fleet: SyntheticFleet

    @property
    def html(self) -> str:
        return (self.out / "report.html").read_text("utf-8")

    @property
    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.out / "report.json").read_text("utf-8"))
        return loaded

    def label(self, name: str, gpu: int) -> str:
        labels = self.fleet.topology.labels[name]
        return str(labels.values[labels.codes[gpu]])

    def gpu_key(self, gpu: int) -> tuple[str, str]:
        return self.label("node", gpu), str(int(self.fleet.topology.gpu_index[gpu]))

    def faulted(self, kind: str) -> set[tuple[str, str]]:
        return {self.gpu_key(g) for f in self.truth if f.kind == kind for g in f.gpus}


def _demo_report(chdb_path: Path, out: Path, scenario: str, gpus: int, ticks: int) -> Iterator[DemoReport]:
    dsn = f"chdb://{chdb_path}?database=r_{uuid.uuid4().hex[:12]}"
    opts = DemoOptions(gpus=gpus, duration_s=ticks, speed=0, seed=SEED, scenario=scenario, data_dir=out, report_dir=out)
    result = run_demo(opts, store_dsn=dsn)
    assert result.report == out / "report.html"
    fleet = SyntheticFleet(gpus, SEED, load_scenario(scenario), result.start_ms, 1.0, ticks)
    SyntheticScheduler(fleet, SEED)  # the demo's scheduler places the jobs, and so where the faults land
    for _ in range(ticks):
        fleet.tick()
    yield DemoReport(dsn, out, result.start_ms, result.end_ms, fleet.truth, fleet)
    store = ClickHouseStore.open(dsn)
    store.command(f"DROP DATABASE IF EXISTS {dsn.rsplit('=', 1)[1]}")
    store.close()


@pytest.fixture(scope="module")
def faulty(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReport]:
    yield from _demo_report(chdb_path, tmp_path_factory.mktemp("report-default"), "default", GPUS, TICKS)


@pytest.fixture(scope="module")
def healthy(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReport]:
    yield from _demo_report(chdb_path, tmp_path_factory.mktemp("report-none"), "none", 256, 60)


def fired(report: DemoReport, rule: str) -> set[tuple[str, str]]:
    alerts = [a for a in report.data["alerts"] if a["rule"] == f"gpufleet-{rule}"]
    return {(a["labels"]["node"], a["labels"]["gpu"]) for a in alerts}


def test_cooling_failure_rack_is_the_hottest_cell(faulty: DemoReport) -> None:
    (cooling,) = [f for f in faulty.truth if f.kind == "cooling_failure"]
    rack = faulty.label("rack", cooling.gpus[0])
    floor = faulty.data["floor"]
    assert floor["hottest_rack"]["rack"] == rack
    others = [c["peak_gpu_temp_c"] for c in floor["cells"] if c["rack"] != rack]
    assert floor["hottest_rack"]["peak_gpu_temp_c"] > max(others) + 20  # a hot patch, not noise
    assert floor["hottest_supply_rack"]["rack"] == rack  # the CDU's coolant shows it too
    assert len(floor["cells"]) == GPUS // 64  # one cell per rack, never per GPU
    assert "floor_coolant.png" in faulty.data["images"]


def test_fallen_off_gpu_xid_79_is_in_the_event_table(faulty: DemoReport) -> None:
    (lost,) = [f for f in faulty.truth if f.kind == "gpu_lost"]
    node, gpu = faulty.gpu_key(lost.gpus[0])
    events = {(e["node"], str(e["gpu_index"]), e["xid"]) for e in faulty.data["xid_events"]}
    assert (node, gpu, 79) in events
    rows = re.findall(r"<tr>(.*?)</tr>", faulty.html.split("What happened where", 1)[1])
    row = next(r for r in rows if f">{node}<" in r and ">79<" in r)
    assert "GPU_HAS_FALLEN_OFF_THE_BUS" in row and "RESTART_BM" in row  # what it was and what to do


def test_fired_alerts_name_the_faulted_gpus(faulty: DemoReport) -> None:
    assert faulty.faulted("gpu_lost") <= fired(faulty, "gpu-lost")
    assert faulty.faulted("ecc_dbe") <= fired(faulty, "ecc-uncorrectable")
    assert faulty.faulted("power_brake") == fired(faulty, "power-brake")
    assert faulty.faulted("straggler") <= fired(faulty, "straggler")
    throttled = fired(faulty, "thermal-throttle")
    assert throttled and throttled <= faulty.faulted("cooling_failure")
    alerts_html = faulty.html.split("Alerts fired in the window", 1)[1].split("<h2>", 1)[0]
    (lost_node, lost_gpu), *_ = faulty.faulted("gpu_lost")
    (brake_node, _), *_ = faulty.faulted("power_brake")
    assert f"{lost_node} (GPU {lost_gpu})" in alerts_html and f"{brake_node} (all 8 GPUs)" in alerts_html


def test_activity_section_names_the_stalled_and_recovering_gpus(faulty: DemoReport) -> None:
    data = faulty.data
    assert 0 < data["activity"]["sm_active_pct"] <= 100
    stalled = {(r["node"], str(r["gpu_index"])) for r in data["stalled"]}
    stall_s = (faulty.end_ms - next(f.start_ms for f in faulty.truth if f.kind == "stall")) // 1000
    assert stalled == (faulty.faulted("stall") if stall_s >= 120 else set())  # 120 samples, as the alert
    recovering = {(r["node"], str(r["gpu_index"])): r["action"] for r in data["recovering"]}
    assert {k for k, a in recovering.items() if a == 4} >= faulty.faulted("ecc_dbe")
    assert {k for k, a in recovering.items() if a == 2} >= faulty.faulted("gpu_lost")
    section = faulty.html.split("What the GPUs did", 1)[1].split("<h2>", 1)[0]
    assert "DRAIN_AND_RESET" in section and "NODE_REBOOT" in section and "reboot" in section
    bursts = {(b["node"], str(b["gpu_index"])) for b in data["xid_bursts"] if b["fatal"]}
    assert faulty.faulted("gpu_lost") | faulty.faulted("ecc_dbe") <= bursts
    assert "<h3>Bursts</h3>" in faulty.html


def test_straggler_and_throttled_gpus_are_where_the_faults_were(faulty: DemoReport) -> None:
    stragglers = {(r["node"], str(r["gpu_index"])) for r in faulty.data["stragglers"]}
    assert faulty.faulted("straggler") <= stragglers
    throttled = {(r["node"], str(r["gpu_index"])) for r in faulty.data["throttled"]}
    assert throttled and throttled <= faulty.faulted("cooling_failure") | faulty.faulted("power_brake")


def test_healthy_run_shows_no_faults(healthy: DemoReport) -> None:
    data = healthy.data
    assert data["alerts"] == [] and data["xid_events"] == [] and data["xid_summary"] == []
    assert data["stalled"] == [] and data["recovering"] == [] and data["xid_bursts"] == []
    assert data["throttled"] == [] and data["stragglers"] == []
    assert data["floor"]["hottest_rack"]["peak_gpu_temp_c"] < 85  # no hot patch anywhere
    assert not [m for m in data["power_marks"] if m["kind"] == "reporting loss"]
    assert data["pipeline"]["gpu_rows"] == 256 * 60 and data["pipeline"]["dead_letters"] == 0
    assert "No alerts fired." in healthy.html and "No XID events." in healthy.html


@pytest.mark.parametrize("which", ["faulty", "healthy"])
def test_html_is_self_contained_and_images_decode(which: str, request: pytest.FixtureRequest) -> None:
    report: DemoReport = request.getfixturevalue(which)
    html = report.html
    sources = re.findall(r'src="([^"]*)"', html)
    stripped = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]*"', 'src=""', html)
    for needle in ("http:", "https:", "//", "<script", "<link", "@import", "url(", "@font-face", "<iframe", "<object"):
        assert needle not in stripped.lower(), needle
    assert "href=" not in stripped
    expected = report.data["images"]
    assert len(sources) == len(expected) >= 4
    for src in sources:
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        image = Image.open(io.BytesIO(png))
        image.load()
        name = next(n for n in expected if (report.out / n).read_bytes() == png)  # the same PNG lies beside the HTML
        assert image.format == "PNG" and image.size == SIZES[name] == (expected[name]["width"], expected[name]["height"])
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # drawn, not blank
        assert f'width="{image.size[0]}" height="{image.size[1]}"' in html


def _main_fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_empty_store_is_exit_2_with_one_line(chdb_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blank = f"chdb://{chdb_path}?database=blank_{uuid.uuid4().hex[:8]}"
    assert "no gpufleet data" in _main_fails(capsys, "--store", blank, "--out", str(tmp_path / "a"))
    migrated = ClickHouseStore.open(blank)
    from storage.migrations import migrate

    migrate(migrated)
    migrated.close()
    assert "holds no GPU samples" in _main_fails(capsys, "--store", blank, "--out", str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # no empty report


def test_window_without_data_is_exit_2(faulty: DemoReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = str(faulty.start_ms - 3_600_000)
    err = _main_fails(
        capsys, "--store", faulty.dsn, "--from", before, "--to", str(faulty.start_ms - 1_800_000), "--out", str(tmp_path)
    )
    assert "no GPU samples between" in err and "the store holds" in err
    assert "not before" in _main_fails(capsys, "--store", faulty.dsn, "--from", "now", "--to", "now-1h", "--out", str(tmp_path))
    assert "is not a time" in _main_fails(capsys, "--store", faulty.dsn, "--from", "yesterday", "--out", str(tmp_path))
    assert not (tmp_path / "report.html").exists()


def test_cli_writes_a_report_for_a_window(faulty: DemoReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    half = str((faulty.start_ms + faulty.end_ms) // 2)
    assert main(["report", "--store", faulty.dsn, "--to", half, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")
    data = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert data["window"]["to_ms"] == int(half) and data["window"]["from_ms"] <= faulty.start_ms
    stamps = [dt.datetime.fromisoformat(e["ts"]).replace(tzinfo=dt.UTC).timestamp() * 1000 for e in data["xid_events"]]
    assert all(ms <= int(half) for ms in stamps)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(data["images"])


def test_empty_data_dir_in_a_fresh_process(tmp_path: Path) -> None:
    done = run_cli("report", "--store", f"chdb://{tmp_path / 'nothing'}", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no gpufleet data" in done.stderr


def test_time_forms() -> None:
    assert parse_time("--to", None) is None
    assert parse_time("--to", "1700000000000") == 1_700_000_000_000
    assert parse_time("--to", "2023-11-14T22:13:20") == 1_700_000_000_000
    assert parse_time("--to", "2023-11-14T23:13:20+01:00") == 1_700_000_000_000
    assert parse_time("--from", "now-6h", now_ms=10**10) == 10**10 - 6 * 3_600_000
    with pytest.raises(ConfigError, match="--from 'soon'"):
        parse_time("--from", "soon")


def test_alert_instants_tile_short_windows_and_sample_long_ones() -> None:
    hour_ms = 3_600_000
    assert instants(0, 120_000, 180, 4) == [120_000]  # a demo run: one evaluation covers it
    assert instants(0, hour_ms, 3600, 4) == [hour_ms]
    assert instants(0, hour_ms, 900, 4) == [hour_ms, 2_700_000, 1_800_000, 900_000]  # four 15-min windows tile the hour
    sampled = instants(0, 24 * hour_ms, 180, 4)
    assert sampled == [24 * hour_ms, 18 * hour_ms, 12 * hour_ms, 6 * hour_ms]  # capped: spread evenly, newest first


def test_jobs_section_names_the_job_the_lost_gpu_ended(faulty: DemoReport, healthy: DemoReport) -> None:
    (lost,) = [f for f in faulty.truth if f.kind == "gpu_lost"]
    hit = [j for j in faulty.data["interrupted_jobs"] if j["gpus_lost"] >= 1]
    assert [j["state"] for j in hit] == ["NODE_FAIL"]  # the scheduler ended the job that held the lost GPU
    assert faulty.data["top_jobs"] and all(j["energy_kwh"] > 0 for j in faulty.data["top_jobs"])
    jobs_html = faulty.html.split("<h2>Jobs</h2>", 1)[1].split("<h2>", 1)[0]
    assert f">{hit[0]['job_id']}<" in jobs_html and lost.start_ms > 0
    assert healthy.data["interrupted_jobs"] == [] and healthy.data["top_jobs"]
