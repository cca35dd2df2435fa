"""`gpufleet collect --kubelet-socket`: the collector polls the kubelet pod-resources API itself,
on its own schedule, against a gRPC server implementing that exact service over a Unix socket
(the only double: no kubelet runs here). Job messages come out of the collector's own transport
while the samples keep flowing; a kubelet that is down is a logged error and a counter, never
a collector failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.kafka import topics
from tests.support.cli import REPO, run_cli
from tests.support.kafka_helpers import KafkaCluster, cli_env, read_topic
from tests.support.kubelet_double import Container, Devices, PodResources, PodResourcesDouble

COLLECT = ("collect", "--source", "synthetic", "--gpus", "8", "--interval", "0.2", "--jobs-interval", "0.5")


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _uuids() -> list[str]:
    done = run_cli(*COLLECT[:5], "--inventory")
    assert done.returncode == 0, done.stderr
    return [g["uuid"] for g in sorted(json.loads(done.stdout), key=lambda g: g["gpu_index"])]


def test_collect_publishes_pod_starts_and_ends_between_samples(kubelet: PodResourcesDouble) -> None:
    uuids = _uuids()
    kubelet.pods = [PodResources("trainer-0", "ml", [Container("main", [Devices("nvidia.com/gpu", uuids[2:4])])])]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet", *COLLECT, "--kubelet-socket", str(kubelet.socket_path), "--duration", "4"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip

    def pod_goes_away() -> None:
        deadline = time.monotonic() + 60
        while kubelet.calls < 2 and time.monotonic() < deadline:  # the collector saw the pod
            time.sleep(0.05)
        kubelet.pods = []

    remover = threading.Thread(target=pod_goes_away)
    remover.start()
    out, err = proc.communicate(timeout=120)
    remover.join()
    assert proc.returncode == 0, err[-2000:]
    lines = _lines(out)
    kinds = [m.get("schema", "").split("/")[0] for m in lines]
    jobs = [m for m in lines if m.get("schema") == "gpufleet.job_assignment/1"]
    assert [(j["phase"], j["job_id"], j["source"]) for j in jobs] == [
        ("start", "ml/trainer-0", "kubernetes"),
        ("end", "ml/trainer-0", "kubernetes"),
    ]
    assert [g["gpu_index"] for g in jobs[0]["gpus"]] == [2, 3] and jobs[0]["gpus"][0]["uuid"] == uuids[2]
    samples = [i for i, k in enumerate(kinds) if k == "gpufleet.node_sample"]
    assert samples[0] < kinds.index("gpufleet.job_assignment") < samples[-1]  # samples before, between and after
    assert len(samples) >= 15  # 4 s at 0.2 s: the polls did not hold up the tick
    node = next(m["node"] for m in lines if kinds[lines.index(m)] == "gpufleet.node_sample")
    assert jobs[0]["node"] == node  # the label the samples carry
    assert 3 <= kubelet.calls <= 12  # its own schedule (every 0.5 s), not once per 0.2 s sample


def test_a_kubelet_that_is_down_is_logged_and_counted_and_samples_flow(tmp_path: Path) -> None:
    missing = tmp_path / "no-kubelet.sock"
    done = run_cli(*COLLECT, "--kubelet-socket", str(missing), "--duration", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _lines(done.stdout)
    assert sum(m.get("schema", "").startswith("gpufleet.node_sample") for m in lines) >= 8
    assert not [m for m in lines if m.get("schema") == "gpufleet.job_assignment/1"]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    failed = [e for e in logs if e["msg"].startswith("kubelet poll failed")]
    assert len(failed) == 1 and failed[0]["level"] == "error" and str(missing) in failed[0]["error"]  # once per outage
    (closing,) = [e for e in logs if e["msg"] == "kubelet polls failed"]
    assert closing["kubelet_poll_errors"] == closing["kubelet_polls"] >= 3


def test_kubelet_with_metrics_only_is_a_setting_error(tmp_path: Path) -> None:
    done = run_cli(*COLLECT, "--kubelet-socket", str(tmp_path / "k.sock"), "--metrics-port", "0", "--duration", "1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--jobs-source kubelet" in done.stderr


def test_collect_kafka_sends_the_pods_jobs_through_its_producer(kubelet: PodResourcesDouble, kafka1: KafkaCluster) -> None:
    uuids = _uuids()
    kubelet.pods = [PodResources("trainer-1", "ml", [Container("main", [Devices("nvidia.com/gpu", uuids[:8])])])]
    created = run_cli("kafka", "topics", "--create", "--kafka", kafka1.bootstrap, env=cli_env(kafka1))
    assert created.returncode == 0, created.stderr
    done = run_cli(*COLLECT, "--kubelet-socket", str(kubelet.socket_path), "--duration", "2", "--kafka", kafka1.bootstrap,
                   "--stats-interval", "0", env=cli_env(kafka1))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["kubelet_polls"] >= 2 and summary["kubelet_poll_errors"] == 0 and summary["kubelet_job_messages"] == 1
    assert summary["sampled_rows"] >= 8 * 8 and summary["undelivered_messages"] == 0
    jobs = [json.loads(r.value) for r in read_topic(kafka1.bootstrap, topics.JOBS)]
    mine = [j for j in jobs if j["job_id"] == "ml/trainer-1"]
    assert [(j["phase"], len(j["gpus"])) for j in mine] == [("start", 8)]
    samples = [json.loads(r.value) for r in read_topic(kafka1.bootstrap, topics.SAMPLES)]
    assert mine[0]["node"] in {s["node"] for s in samples}  # same node label as its samples
