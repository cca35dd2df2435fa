"""`gpufleet collect --metrics-port` alone is a dcgm-exporter replacement, scraped by a real Prometheus.

The collector runs as its own process on the NVML double (`--nvml-module`, the only
difference from a GPU node: the source defaults to nvml), with no `--kafka`: it must
serve every GPU on /metrics and print nothing on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka import topics
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet, read_topic
from tests.support.mosquitto import free_port
from tests.support.prometheus import Prometheus
from tests.support.ready import http_ok, wait_ready

DASHBOARD_12239 = Path(__file__).parents[1] / "data" / "dcgm_dashboard_12239_metrics.txt"
NEEDS_GPM = {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"}
GPUS = 8
CLI = [sys.executable, "-m", "gpufleet", "collect", "--nvml-module", "collectors.nvml.double"]


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {**os.environ, "GPUFLEET_NVML_DOUBLE_GPUS": str(GPUS), "GPUFLEET_NODE__NODE": "h200-node-17"}
    proc = subprocess.Popen(
        [*CLI, "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not wait_ready(proc, http_ok(f"http://127.0.0.1:{port}/health"), timeout_s=60, poll_s=0.2):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            pytest.fail(f"the exporter did not answer /health on port {port} within 60 s")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_collect_metrics_port_alone_serves_dashboard_12239(exporter: tuple[subprocess.Popen[str], int], tmp_path: Path) -> None:
    proc, port = exporter
    (tmp_path / "prom").mkdir()
    prometheus = Prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"])
    prometheus.start()
    try:
        prometheus.wait_for('DCGM_FI_DEV_GPU_TEMP{Hostname="h200-node-17"}', series=GPUS)
        wanted = [line for line in DASHBOARD_12239.read_text().splitlines() if line and not line.startswith("#")]
        missing = set()
        for name in wanted:
            result = prometheus.query(f'max({name}{{Hostname=~"h200-node-17", gpu=~".*"}}) by (Hostname, gpu, UUID)')
            if not result:
                missing.add(name)
                continue
            assert sorted(int(s["metric"]["gpu"]) for s in result) == list(range(GPUS)), name
        # profiling panels need GPM activity, not sampled yet (issue 15): only those are unanswered
        assert missing <= NEEDS_GPM
        # one scrape is one tick: free + used = total for every GPU, power is in W
        for s in prometheus.query("DCGM_FI_DEV_FB_FREE + DCGM_FI_DEV_FB_USED - DCGM_FI_DEV_FB_TOTAL"):
            assert float(s["value"][1]) == 0.0
        watts = [float(s["value"][1]) for s in prometheus.query("DCGM_FI_DEV_POWER_USAGE")]
        assert len(watts) == GPUS
        assert all(50 < w < 1000 for w in watts)
        models = {s["metric"]["modelName"] for s in prometheus.query("DCGM_FI_DEV_GPU_TEMP")}
        assert models and all(m.startswith("NVIDIA H") for m in models)
        up = prometheus.query('up{job="gpufleet-collector"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
    finally:
        prometheus.stop()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert out == "", "a pure exporter prints nothing on stdout"


def test_collect_kafka_and_metrics_port_serve_the_same_samples(kafka1: KafkaCluster, tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(kafka1, GPUFLEET_NVML_DOUBLE_GPUS=str(GPUS))
    proc = gpufleet(
        "collect", "--nvml-module", "collectors.nvml.double", "--kafka", kafka1.bootstrap, "--metrics-port", str(port),
        "--metrics-host", "127.0.0.1", "--duration", "6", "--stats-interval", "0", env=env, cwd=tmp_path,
    )  # fmt: skip
    body = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "gpufleet_collector_sent_rows_total" not in body:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                body = r.read().decode()
            if body.count("DCGM_FI_DEV_POWER_USAGE{") < GPUS:
                body = ""
        except OSError:
            time.sleep(0.2)
    assert body.count("DCGM_FI_DEV_POWER_USAGE{") == GPUS, "GPU metrics beside the publishing counters"
    assert "# TYPE gpufleet_collector_sent_rows_total counter" in body
    assert proc.wait(90) == 0, proc.stderr()
    summary = json.loads(proc.stdout().strip().splitlines()[-1])
    assert summary["sent_rows"] == summary["sampled_rows"] == GPUS * 6
    assert summary["undelivered_messages"] == 0
    assert len(read_topic(kafka1.bootstrap, topics.SAMPLES)) == 6
