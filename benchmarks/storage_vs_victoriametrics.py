"""ClickHouse (chDB, schema v2) against VictoriaMetrics on the same synthetic rows.

    .venv/bin/python benchmarks/storage_vs_victoriametrics.py [--gpus 1024] [--hours 1] [--repeats 5]

VictoriaMetrics is the Debian package's single-node binary (`victoria-metrics`, installed by
`make bench-tools`, scripts/install-bench-tools), started
here on a free loopback port with its own data dir and fed through its JSON-lines import
API, one series per GPU and metric (labels cluster, hall, rack, node, gpu, uuid). It gets the
six metrics the dashboards read (power, GPU and HBM temperature, utilization, SM clock,
energy); ClickHouse gets the whole row (every metric column) through the writer
(`insert_samples`: raw rows plus the rollups it computes, and the views chained on them). Reported:
bytes per sample on disk (ClickHouse: those six columns plus ts and labels, charged to the
six alone; after OPTIMIZE FINAL / VictoriaMetrics: data dir after force_flush and
force_merge), ingest rate, and the median latency of fleet power over the window (1-minute
steps) and the hottest GPUs (MetricsQL `sum`, `topk(max_over_time)`, caches off). The
window holds no whole clock hour, so `hottest_gpus` reads gpu_minute alone (part
gpu_minute_window); its general hour+minute text (what ran before) is timed beside it, on the
same store, as the baseline, with the CPU time of the process (chDB runs in it) per call.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from storage_fleet import flags, frames, open_store

from gpufleet.contract.frame import GpuFrame
from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.migrations import migrate

VM_METRICS = ("power_mw", "gpu_temp_c", "mem_temp_c", "util_gpu_pct", "sm_clock_mhz", "energy_mj")
LABELS = ("cluster", "hall", "rack", "node", "uuid")


class VictoriaMetrics:
    """A victoria-metrics process on a free loopback port; stopped by `close()`."""

    def __init__(self, binary: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gpufleet-vm-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        args = [binary, f"-storageDataPath={self.dir}", f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y"]
        args += ["-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.get("/health")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("victoria-metrics did not start")

    def get(self, path: str, **params: str) -> bytes:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=120) as response:
            return bytes(response.read())

    def post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=600):
            pass

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.dir.rglob("*") if f.is_file())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def series_lines(frame: GpuFrame) -> Iterator[bytes]:
    """JSON lines for /api/v1/import: one line per GPU and metric, values in time order."""
    uuid = frame.labels["uuid"]
    order = np.lexsort((frame.ts_ms, uuid.codes))
    codes = uuid.codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds = [*starts.tolist(), len(codes)]
    labels = {k: frame.labels[k] for k in LABELS}
    for a, b in itertools.pairwise(bounds):
        rows = order[a:b]
        first = int(rows[0])
        tags = {k: c.values[c.codes[first]] for k, c in labels.items()} | {"gpu": str(int(frame.gpu_index[first]))}
        ts = frame.ts_ms[rows].tolist()
        for metric in VM_METRICS:
            values = frame.metrics[metric][rows].tolist()
            yield json.dumps({"metric": {"__name__": metric, **tags}, "values": values, "timestamps": ts}).encode()


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_clickhouse(whole: GpuFrame, gpus: int) -> tuple[ClickHouseStore, float, int]:
    """Insert into schema v2 in 120-tick batches; (store, seconds inserting, bytes of ts+labels+VM metrics)."""
    store = open_store("vs_vm")
    migrate(store)
    step, spent = 120 * gpus, 0.0
    for i in range(0, len(whole), step):
        part = whole.take(np.arange(i, min(i + step, len(whole))))
        t = time.perf_counter()
        store.insert_samples(part, f"vm-{i}")
        spent += time.perf_counter() - t
    store.command("OPTIMIZE TABLE gpu_samples FINAL")
    sizes = dict(store.query(
        "SELECT name, data_compressed_bytes FROM system.columns WHERE database = currentDatabase() AND table = 'gpu_samples'"
    ).rows)  # fmt: skip
    charged = ("ts", "cluster", "hall", "row", "rack", "node", "uuid", "gpu_index", *VM_METRICS)
    return store, spent, sum(int(sizes[c]) for c in charged)


def load_victoria(vm: VictoriaMetrics, whole: GpuFrame) -> tuple[float, float, int]:
    """Import every series; (seconds encoding JSON, seconds importing incl. flush, bytes on disk after merge)."""
    t = time.perf_counter()
    body = b"\n".join(series_lines(whole))
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    start = 0
    while start < len(body):  # post in ~64 MiB pieces cut at line ends
        end = body.find(b"\n", start + (64 << 20))
        end = len(body) if end < 0 else end
        vm.post("/api/v1/import", body[start:end])
        start = end + 1
    vm.get("/internal/force_flush")
    import_s = time.perf_counter() - t
    vm.get("/internal/force_merge", partition_prefix=time.strftime("%Y_%m", time.gmtime()))
    time.sleep(5)  # the merge runs in the background
    return encode_s, import_s, vm.disk_bytes()


def median_cpu_s(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def query_latencies(store: ClickHouseStore, vm: VictoriaMetrics, whole: GpuFrame, repeats: int) -> dict[str, float]:
    start_ms, end_ms = int(whole.ts_ms.min()), int(whole.ts_ms.max())
    hottest = queries.get("hottest_gpus")
    bound = hottest.bind({"from_ms": start_ms, "to_ms": end_ms, "limit": 10})
    window = {"from_ms": start_ms, "to_ms": end_ms}
    span_s = (end_ms - start_ms) // 1000 + 1
    rng = {"start": str(start_ms / 1000), "end": str(end_ms / 1000), "step": "60s", "nocache": "1"}
    top = {"query": f"topk(10, max_over_time(gpu_temp_c[{span_s}s]))", "time": str(end_ms / 1000), "nocache": "1"}
    return {
        "ch_power": median_s(lambda: queries.run(store, "fleet_power_series", {**window, "step_s": 60}), repeats),
        "ch_hot": median_s(lambda: queries.run(store, "hottest_gpus", {**window, "limit": 10}), repeats),
        "ch_hot_general": median_s(lambda: store.query(hottest.runs, bound), repeats),
        "ch_hot_cpu": median_cpu_s(lambda: queries.run(store, "hottest_gpus", {**window, "limit": 10}), repeats),
        "ch_hot_general_cpu": median_cpu_s(lambda: store.query(hottest.runs, bound), repeats),
        "vm_power": median_s(lambda: vm.get("/api/v1/query_range", query="sum(power_mw)", **rng), repeats),
        "vm_hot": median_s(lambda: vm.get("/api/v1/query", **top), repeats),
    }


def main() -> None:
    args = flags(__doc__, gpus=1024, hours=1.0, repeats=5).parse_args()
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise SystemExit("victoria-metrics is not installed: make bench-tools (Debian's victoria-metrics)")
    whole = GpuFrame.concat(list(frames(args.gpus, int(args.hours * 3600))))
    rows, samples = len(whole), len(whole) * len(VM_METRICS)
    print(f"{rows:,} rows = {samples:,} samples of {len(VM_METRICS)} metrics ({args.gpus:,} GPUs x {args.hours:g} h)")
    store, ch_s, ch_bytes = load_clickhouse(whole, args.gpus)
    vm = VictoriaMetrics(binary)
    try:
        encode_s, vm_s, vm_bytes = load_victoria(vm, whole)
        lat = query_latencies(store, vm, whole, args.repeats)
        count = json.loads(vm.get("/api/v1/query", query="count(power_mw)", time=str(int(whole.ts_ms.max()) / 1000)))
    finally:
        vm.close()
    series = count["data"]["result"][0]["value"][1] if count["data"]["result"] else "0"
    print(f"VictoriaMetrics: {series} power series at the end; JSON encoding took {encode_s:.1f} s (not counted)")
    print("\n| | ClickHouse (chDB, v2) | VictoriaMetrics | ClickHouse advantage |")
    print("|---|---|---|---|")
    ch_bps, vm_bps = ch_bytes / samples, vm_bytes / samples
    print(f"| bytes per sample on disk | {ch_bps:.3f} | {vm_bps:.3f} | {vm_bps / ch_bps:.2f}x fewer bytes |")
    ch_rate = f"{samples / ch_s:,.0f} ({rows / ch_s:,.0f} rows/s of every metric, with every rollup)"
    print(f"| ingest, samples/s | {ch_rate} | {samples / vm_s:,.0f} | {vm_s / ch_s:.2f}x |")
    for label, ch, vmk in (("fleet power over the window, 1-min steps", "ch_power", "vm_power"),
                           ("hottest 10 GPUs over the window", "ch_hot", "vm_hot")):  # fmt: skip
        print(f"| {label} | {lat[ch] * 1000:.0f} ms | {lat[vmk] * 1000:.0f} ms | {lat[vmk] / lat[ch]:.1f}x faster |")
    print(
        f"\nhottest_gpus, the general hour+minute text on the same store: {lat['ch_hot_general'] * 1000:.0f} ms"
        f" ({lat['ch_hot_general_cpu'] * 1000:.0f} ms CPU) against {lat['ch_hot'] * 1000:.0f} ms"
        f" ({lat['ch_hot_cpu'] * 1000:.0f} ms CPU) for gpu_minute alone; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
