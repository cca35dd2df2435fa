"""What the GPU is doing, end to end: the NVML collector (real `collectors.nvml` code on the
pynvml double) publishes to Kafka, `gpufleet ingest` stores, `gpufleet alerts check` fires
"GPU stalled" and "GPU needs recovery" for exactly the GPUs the double was told to have
them, and the processes and recovery-action events arrive in their tables. GPU 0 is in MIG
mode: its two GPU instances' GPM activity (gpu_instance_activity/1) is stored per instance
and the named query `gpu_instance_activity` answers for it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from collectors.nvml.double_gpm import instance_value
from tests.support.cli import run_cli
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet

NVML = ["collect", "--source", "nvml", "--nvml-module", "collectors.nvml.double", "--node", "node-00042"]


def labels(instance: dict[str, str]) -> dict[str, str]:
    """`alerts check` prints labels as `k=v, k=v` (a value may itself hold ", ")."""
    return dict(part.split("=", 1) for part in re.split(r", (?=\w+=)", instance["labels"]))


def sql(data: Path, query: str) -> list[dict[str, object]]:
    proc = run_cli("sql", "--store", f"chdb://{data}", "--format", "json", query)
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def test_stalled_and_recovering_gpus_alert_end_to_end(kafka1: KafkaCluster, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(kafka1, GPUFLEET_NVML_DOUBLE_STALL="1,6", GPUFLEET_NVML_DOUBLE_RECOVERY="4:4", GPUFLEET_NVML_DOUBLE_MIG="0")
    ingest = gpufleet("ingest", "--store", f"chdb://{data}", "--exit-when-idle", "5", env=env, cwd=tmp_path)
    collect = gpufleet(
        *NVML, "--interval", "0.2", "--duration", "4", "--kafka", kafka1.bootstrap, "--stats-interval", "0", env=env, cwd=tmp_path
    )
    assert collect.wait(60) == 0, collect.stderr()
    assert ingest.wait(90) == 0, ingest.stderr()

    check = run_cli("alerts", "check", "--store", f"chdb://{data}", "--format", "json", "--stall-min-samples", "10")
    assert check.returncode == 0, check.stderr
    firing = json.loads(check.stdout)
    by_rule: dict[str, set[str]] = {}
    for instance in firing:
        assert labels(instance)["node"] == "node-00042"
        by_rule.setdefault(instance["rule"], set()).add(labels(instance)["gpu"])
    assert by_rule == {"gpufleet-gpu-stalled": {"1", "6"}, "gpufleet-gpu-needs-recovery": {"4"}}
    [recovery] = [i for i in firing if i["rule"] == "gpufleet-gpu-needs-recovery"]
    assert labels(recovery)["recovery_action"] == "DRAIN_AND_RESET" and "reset" in labels(recovery)["step"]

    # the stalled GPUs read busy with idle SMs; the others work
    activity = sql(data, "SELECT gpu_index, min(util_gpu_pct) AS u, max(sm_active_pct) AS sm FROM gpu_samples GROUP BY gpu_index")
    busy = [r for r in activity if r["u"] is not None]  # utilization.gpu: not on a MIG GPU
    assert {int(str(r["gpu_index"])) for r in busy} == set(range(1, 8))
    stalled = {int(str(r["gpu_index"])) for r in busy if int(str(r["u"])) >= 90 and int(str(r["sm"])) <= 5}
    assert stalled == {1, 6}
    events = sql(data, "SELECT gpu_index, recovery_action, uuid FROM gpu_events WHERE kind = 'recovery_action'")
    assert [(int(str(e["gpu_index"])), int(str(e["recovery_action"]))) for e in events] == [(4, 4)]
    assert str(events[0]["uuid"]).startswith("GPU-")
    procs = sql(data, "SELECT count() AS n, uniqExact(ts) AS publishes, uniqExact(gpu_index) AS gpus FROM gpu_processes")[0]
    assert int(str(procs["gpus"])) == 8 and int(str(procs["publishes"])) >= 1  # every 5 s, and on the first tick

    # per MIG GPU instance: one row per instance per tick, the same ticks as GPU 0's samples
    per_tick = sql(
        data,
        "SELECT a.gpu_instance_id AS gi, a.sm_active_pct AS inst, s.sm_active_pct AS gpu FROM gpu_instance_activity AS a"
        " INNER JOIN gpu_samples AS s ON s.node = a.node AND s.gpu_index = a.gpu_index AND s.ts = a.ts ORDER BY a.ts, gi",
    )
    ticks = sql(data, "SELECT count() AS n FROM gpu_samples WHERE gpu_index = 0")[0]["n"]
    assert len(per_tick) == 2 * int(str(ticks)) and {int(str(r["gi"])) for r in per_tick} == {1, 2}
    assert all(r["inst"] == instance_value(int(str(r["gpu"])), int(str(r["gi"]))) for r in per_tick)
    named = run_cli(
        "sql", "--store", f"chdb://{data}", "--query", "gpu_instance_activity", "--param", "node=node-00042",
        "--param", "gpu_index=0", "--param", "from_ms=now-1h", "--format", "json",
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    rows = json.loads(named.stdout)
    profiles = [(r["gpu_instance_id"], r["profile"], r["slice_count"]) for r in rows]
    assert profiles == [(1, "MIG 4g.40gb", 4), (2, "MIG 3g.40gb", 3)]
    assert all(int(str(r["samples"])) == int(str(ticks)) and r["sm_active_pct_avg"] is not None for r in rows)
