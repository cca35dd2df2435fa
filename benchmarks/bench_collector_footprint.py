"""Resident memory and CPU of a collector on an 8-GPU node at 1 Hz, over time.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_collector_footprint.py [--duration 600] [--scrape-interval 1]

Runs side by side, each as its own `gpufleet collect` process on the NVML double (8 GPUs):

- `baseline`: JSON lines to /dev/null, no exposition, no Kafka (what a collector costs at all);
- `exporter`: `--metrics-port` alone (the dcgm-exporter replacement), scraped every
  `--scrape-interval` seconds (Prometheus usually scrapes every 15-30 s: this is harsher);
- `exporter+kafka`: the same plus `--kafka` to a live broker (Apache Kafka, one node, from the jars the test setup fetched);
- `exporter+kafka-away`: `--kafka` to a closed port with `--buffer-messages 100`, so the
  bounded buffer fills within 2 minutes and must then stay flat.

and an idle `python` for the interpreter's own floor. Every 10 s it reads each process's
VmRSS and utime+stime from /proc. Reported per process: RSS after warm-up, at the end and
its peak, the RSS slope (least squares, MiB per hour), and CPU as % of one core over the
steady state; ratios against `baseline` measured in the same run, and the targets
(<= 64 MB resident, <= 1 % of one core, flat). The NVML double computes a synthetic fleet
in-process, so CPU here includes the double's model; a real driver's calls are cheaper
(docs/hardware/nvidia-h200.md). Label churn is covered by tests/unit/test_exposition.py
(no growth of what a scrape holds); the CLI has no job mapping to churn yet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.kafka_cluster import KafkaCluster

TARGET_RSS_MB = 64.0
TARGET_CPU_PCT = 1.0
WARMUP_S = 30.0
SAMPLE_EVERY_S = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


@dataclass
class Run:
    name: str
    args: list[str]
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, rss_mb, cpu_s)
    scrapes: int = 0
    bad_scrapes: int = 0


def scrape_loop(run: Run, interval_s: float, stop: threading.Event) -> None:
    """Scrape like Prometheus; a scrape that fails or lacks a GPU once serving began is bad."""
    while not stop.wait(interval_s):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{run.port}/metrics", timeout=5) as r:
                body = r.read().decode()
            gpus = body.count("DCGM_FI_DEV_GPU_TEMP{")
            run.scrapes += 1
            run.bad_scrapes += gpus != 8
        except OSError:
            run.bad_scrapes += run.scrapes > 0  # before the first answer the process is still starting


def start_broker(workdir: Path) -> tuple[KafkaCluster, str]:
    """A single Apache Kafka node from the jars `scripts/install-test-services` fetched (as the tests use)."""
    from pipeline.kafka.topics import create_topics
    from tests.support.kafka_helpers import kafka_settings

    cluster = KafkaCluster(workdir / "kafka", 1)
    cluster.start()
    create_topics(kafka_settings(1), cluster.bootstrap)
    return cluster, cluster.bootstrap


def slope_mib_per_h(samples: list[tuple[float, float, float]]) -> float:
    xs = [t for t, _, _ in samples]
    ys = [r for _, r, _ in samples]
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600 * 1e6 / 2**20


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds each collector runs (default: %(default)s)")
    parser.add_argument("--scrape-interval", type=float, default=1.0, help="seconds between scrapes (default: %(default)s)")
    parser.add_argument("--no-kafka", action="store_true", help="skip the live-broker run")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    return parser.parse_args()


def main() -> None:
    opts = options()
    workdir = Path(tempfile.mkdtemp(prefix="gpufleet-footprint-"))
    env = {**os.environ, "GPUFLEET_NVML_DOUBLE_GPUS": "8", "GPUFLEET_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "gpufleet", "collect", "--nvml-module", "collectors.nvml.double", "--stats-interval", "0"]
    broker = None
    runs = [
        Run("interpreter", [sys.executable, "-c", "import time; time.sleep(1e9)"]),
        Run("baseline", cli),
    ]
    for name in ("exporter", "exporter+kafka", "exporter+kafka-away"):
        if name == "exporter+kafka" and opts.no_kafka:
            continue
        port = free_port()
        args = [*cli, "--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
        if name == "exporter+kafka":
            broker, bootstrap = start_broker(workdir)
            args += ["--kafka", bootstrap]
        elif name == "exporter+kafka-away":
            args += ["--kafka", f"127.0.0.1:{free_port()}", "--buffer-messages", "100", "--flush-timeout", "0"]
        runs.append(Run(name, args, port))

    stop = threading.Event()
    scrapers = []
    try:
        for run in runs:
            run.proc = subprocess.Popen(run.args, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        for run in runs:
            if run.port is not None:
                thread = threading.Thread(target=scrape_loop, args=(run, opts.scrape_interval, stop), daemon=True)
                thread.start()
                scrapers.append(thread)
        while (elapsed := time.monotonic() - started) < opts.duration:
            for run in runs:
                assert run.proc is not None
                if run.proc.poll() is not None:
                    raise SystemExit(f"{run.name} exited with {run.proc.returncode}")
                run.samples.append((elapsed, rss_mb(run.proc.pid), cpu_s(run.proc.pid)))
            time.sleep(SAMPLE_EVERY_S)
    finally:
        stop.set()
        for run in runs:
            if run.proc is not None and run.proc.poll() is None:
                run.proc.terminate()
                run.proc.wait(timeout=60)
        if broker is not None:
            broker.close()

    report(runs, opts)


def report(runs: list[Run], opts: argparse.Namespace) -> None:
    print(f"collector footprint, 8 GPUs (NVML double) at 1 Hz, {opts.duration:.0f} s, scrape every {opts.scrape_interval:g} s")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{'process':<22} {'RSS@warm MB':>11} {'RSS end MB':>10} {'peak MB':>8} {'slope MiB/h':>11} "
          f"{'CPU % core':>10} {'x baseline':>10} {'scrapes':>8}")  # fmt: skip
    base_cpu = None
    results = {}
    for run in runs:
        steady = [s for s in run.samples if s[0] >= WARMUP_S] or run.samples
        (t0, rss0, cpu0), (t1, rss1, cpu1) = steady[0], steady[-1]
        cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0.0
        if run.name == "baseline":
            base_cpu = cpu_pct
        ratio = f"{cpu_pct / base_cpu:.2f}" if base_cpu and run.name != "interpreter" else "-"
        peak = max(r for _, r, _ in run.samples)
        slope = slope_mib_per_h(steady)
        scrapes = f"{run.scrapes}/{run.bad_scrapes} bad" if run.port else "-"
        print(f"{run.name:<22} {rss0:>11.1f} {rss1:>10.1f} {peak:>8.1f} {slope:>11.2f} {cpu_pct:>10.2f} {ratio:>10} {scrapes:>8}")
        results[run.name] = {
            "t_s": [round(t) for t, _, _ in run.samples],
            "rss_mb": [round(r, 2) for _, r, _ in run.samples],
            "cpu_pct": round(cpu_pct, 3),
            "slope_mib_per_h": round(slope, 3),
            "scrapes": run.scrapes,
        }
    print("RSS trend (MB at evenly spaced times):")
    for run in runs:
        picks = [run.samples[round(i * (len(run.samples) - 1) / 6)] for i in range(7)]
        print(f"  {run.name:<22} " + "  ".join(f"{t / 60:5.1f} min {r:5.1f}" for t, r, _ in picks))
    print(f"targets: <= {TARGET_RSS_MB:.0f} MB resident, <= {TARGET_CPU_PCT:.0f} % of one core, flat over time")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
