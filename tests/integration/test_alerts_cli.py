"""`gpufleet alerts check` as a user runs it, on the store a demo run left behind, and the
demo's own summary of the firing alerts."""

from __future__ import annotations

import json
from pathlib import Path

from dashboards.evaluate import AlertInstance, summary_rows
from tests.support.cli import run_cli


def test_alerts_check_after_a_demo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = run_cli(
        "demo", "--gpus", "256", "--duration", "60", "--speed", "0", "--seed", "3", "--data-dir", str(data), "--format", "json"
    )
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    demo_alerts = {row["alert"]: row["instances"] for row in summary["alerts"]}
    assert {"Fatal XID", "GPU lost", "Hardware power brake"} <= set(demo_alerts)

    check = run_cli("alerts", "check", "--store", f"chdb://{data}", "--format", "json")
    assert check.returncode == 0, check.stderr
    firing = json.loads(check.stdout)
    assert {"gpufleet-fatal-xid", "gpufleet-gpu-lost", "gpufleet-power-brake"} <= {f["rule"] for f in firing}
    assert all(f["severity"] in ("critical", "warning") and f["labels"] for f in firing)

    before = run_cli("alerts", "check", "--store", f"chdb://{data}", "--at", "2001-01-01T00:00:00", "--format", "json")
    assert before.returncode == 0 and json.loads(before.stdout) == []  # nothing stored yet then

    bad = run_cli("alerts", "check", "--store", f"chdb://{data}", "--at", "yesterday")
    assert bad.returncode == 2 and "--at 'yesterday'" in bad.stderr and "Traceback" not in bad.stderr


def test_summary_rows_group_instances_per_rule() -> None:
    brake = [
        AlertInstance("gpufleet-power-brake", "Hardware power brake", "critical", {"node": "n1", "gpu": str(g)}, 9.0)
        for g in range(8)
    ]
    lost = [AlertInstance("gpufleet-gpu-lost", "GPU lost", "critical", {"node": f"n{n}", "gpu": "3"}, 1.0) for n in range(6)]
    rows = summary_rows([*brake, *lost])
    assert rows == [
        ("critical", "Hardware power brake", 8, "n1 (all 8 GPUs)"),
        ("critical", "GPU lost", 6, "n0 (GPU 3); n1 (GPU 3); n2 (GPU 3); n3 (GPU 3); +2 more"),
    ]
