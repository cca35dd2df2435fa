"""The hardware check's part for issue 15: GPM, the recovery action, processes, events.

What `scripts/gpu-check` records about the NVML calls the collector added: whether each
GPU supports GPM, how long `nvmlGpmSampleGet` and `nvmlGpmMetricsGet` take, what every GPM
metric the collector reads (and a few it does not: integer, DFMA/DMMA/IMMA, per-link
NVLink) returns; how long `nvmlDeviceGetComputeRunningProcesses_v3` takes and how many
processes it lists; whether the driver offers recovery-action events (0x8000) and what
field 230 holds. Samples of a GPU are taken `gpm.MIN_INTERVAL_S` apart, as NVIDIA asks.
On a GPU in MIG mode (never changed here) it lists the GPU instances and reads the first
one's GPM with `nvmlGpmMigSampleGet`, timed the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from collectors.nvml import gpm
from collectors.nvml.events import EVENT_TYPE_GPU_RECOVERY_ACTION
from collectors.nvml.lib import SUCCESS, NvmlCallError, NvmlLib
from collectors.nvml.mig import discover
from collectors.nvml.sampler import GpuState

# read by the collector, plus: INTEGER_UTIL, DFMA, DMMA, IMMA, NVLink L0 RX/TX
EXTRA_METRICS: tuple[int, ...] = (4, 6, 8, 9, 62, 63)
FI_RECOVERY_ACTION = 230


def _stats(values_us: list[float]) -> dict[str, float]:
    if not values_us:
        return {"n": 0, "p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0}
    ordered = sorted(values_us)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_us": statistics.median(ordered), "p99_us": p99, "max_us": ordered[-1]}


def _timed(lib: NvmlLib, name: str, *args: Any) -> tuple[float, int, Any]:
    t0 = time.perf_counter_ns()
    try:
        value = lib.call(name, *args)
        code = SUCCESS
    except NvmlCallError as e:
        value, code = None, e.code
    return (time.perf_counter_ns() - t0) / 1000.0, code, value


def probe_gpu(lib: NvmlLib, gpu: GpuState, pairs: int) -> dict[str, Any]:
    """GPM, processes, events and field 230 of one GPU."""
    out: dict[str, Any] = {"gpu": gpu.index, **_events_and_field(lib, gpu), **_processes(lib, gpu, pairs)}
    _, code, support = _timed(lib, "nvmlGpmQueryDeviceSupport", gpu.handle)
    out["gpm_supported"] = bool(code == SUCCESS and int(support.isSupportedDevice))
    out["gpm_query_code"] = code
    if out["gpm_supported"]:
        out.update(_gpm(lib, gpu, pairs))
    if gpu.mig:
        out["mig"] = _mig(lib, gpu, pairs if out["gpm_supported"] else 0)
    return out


def _mig(lib: NvmlLib, gpu: GpuState, pairs: int) -> dict[str, Any]:
    """The GPU instances of a MIG GPU, and the first one's GPM (per-instance sampling)."""
    try:
        found = discover(lib, gpu.handle)
    except NvmlCallError as e:
        return {"error": str(e)}
    out: dict[str, Any] = {"instances": [{"gpu_instance_id": g, "profile": p, "slice_count": n} for g, p, n in found]}
    if found and pairs:
        out.update(_gpm(lib, gpu, pairs, gpu_instance_id=found[0][0]))
    return out


def _events_and_field(lib: NvmlLib, gpu: GpuState) -> dict[str, Any]:
    _, code, mask = _timed(lib, "nvmlDeviceGetSupportedEventTypes", gpu.handle)
    try:
        [(ret, action)] = lib.field_values(gpu.handle, [FI_RECOVERY_ACTION])
    except NvmlCallError as e:
        ret, action = e.code, None
    return {
        "event_types": None if code else int(mask),
        "recovery_events": bool(not code and int(mask) & EVENT_TYPE_GPU_RECOVERY_ACTION),
        "recovery_action": {"code": ret, "value": action},
    }


def _processes(lib: NvmlLib, gpu: GpuState, calls: int) -> dict[str, Any]:
    lat, codes, count = [], set(), 0
    for _ in range(calls):
        us, code, procs = _timed(lib, "nvmlDeviceGetComputeRunningProcesses_v3", gpu.handle)
        lat.append(us)
        codes.add(code)
        count = len(procs or [])
    return {"processes": {"codes": sorted(codes), "count": count, **_stats(lat)}}


def _gpm(lib: NvmlLib, gpu: GpuState, pairs: int, gpu_instance_id: int | None = None) -> dict[str, Any]:
    ids = (*gpm.METRIC_IDS, *EXTRA_METRICS)
    samples = [lib.call("nvmlGpmSampleAlloc"), lib.call("nvmlGpmSampleAlloc")]
    request = lib.const("c_nvmlGpmMetricsGet_t")()
    request.version = lib.const("NVML_GPM_METRICS_GET_VERSION")
    request.numMetrics = len(ids)
    for i, metric_id in enumerate(ids):
        request.metrics[i].metricId = metric_id
    get_us, metrics_us, codes = [], [], set()
    name, where = ("nvmlGpmSampleGet", ()) if gpu_instance_id is None else ("nvmlGpmMigSampleGet", (gpu_instance_id,))
    try:
        _timed(lib, name, gpu.handle, *where, samples[0])
        for _ in range(pairs):
            time.sleep(gpm.MIN_INTERVAL_S)
            us, code, _ = _timed(lib, name, gpu.handle, *where, samples[1])
            get_us.append(us)
            request.sample1, request.sample2 = samples[0], samples[1]
            us, mcode, _ = _timed(lib, "nvmlGpmMetricsGet", request)
            metrics_us.append(us)
            codes |= {code, mcode}
            samples.reverse()
        answers = {
            str(metric_id): {"code": int(request.metrics[i].nvmlReturn), "value": float(request.metrics[i].value)}
            for i, metric_id in enumerate(ids)
        }
    finally:
        for sample in samples:
            lib.call("nvmlGpmSampleFree", sample)
    return {
        "gpm_codes": sorted(codes),
        "gpm_sample_get": _stats(get_us),
        "gpm_metrics_get": _stats(metrics_us),
        "gpm_metrics": answers,
    }


def probe_all(lib: NvmlLib, gpus: Sequence[GpuState], pairs: int) -> list[dict[str, Any]]:
    return [probe_gpu(lib, g, pairs) for g in gpus if not g.lost]


def render(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown lines of the page's GPM / recovery / processes section (GPU 0 in detail)."""
    if not results:
        return []
    first = results[0]
    lines = [
        "",
        "## GPM, recovery action, processes (issue 15)",
        "",
        f"GPM supported on GPUs: {[r['gpu'] for r in results if r['gpm_supported']]}; recovery-action events (0x8000) "
        f"offered on GPUs: {[r['gpu'] for r in results if r['recovery_events']]}; field 230 on GPU 0: "
        f"{first['recovery_action']}.",
        "",
        "| call (GPU 0) | n | p50 µs | p99 µs | max µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (("nvmlGpmSampleGet", "gpm_sample_get"), ("nvmlGpmMetricsGet", "gpm_metrics_get")):
        s = first.get(key)
        if s:
            lines.append(f"| `{label}` | {s['n']} | {s['p50_us']:.1f} | {s['p99_us']:.1f} | {s['max_us']:.1f} |")
    p = first["processes"]
    lines.append(
        f"| `nvmlDeviceGetComputeRunningProcesses_v3` ({p['count']} processes) | {p['n']} | {p['p50_us']:.1f} "
        f"| {p['p99_us']:.1f} | {p['max_us']:.1f} |"
    )
    lines += _render_mig(results)
    metrics = first.get("gpm_metrics", {})
    if metrics:
        lines += ["", "| GPM metric id | column | NVML return | value |", "|---:|---|---|---:|"]
        for metric_id, answer in metrics.items():
            column = gpm.COLUMNS[gpm.METRIC_IDS.index(int(metric_id))] if int(metric_id) in gpm.METRIC_IDS else "(not read)"
            lines.append(f"| {metric_id} | {column} | {answer['code']} | {answer['value']:.2f} |")
    return lines


def _render_mig(results: list[dict[str, Any]]) -> list[str]:
    """A line per MIG GPU: its GPU instances and the first one's nvmlGpmMigSampleGet timing."""
    lines = []
    for r in results:
        mig = r.get("mig")
        if mig is None:
            continue
        s = mig.get("gpm_sample_get")
        timing = f"; `nvmlGpmMigSampleGet` p50 {s['p50_us']:.1f} µs, p99 {s['p99_us']:.1f} µs (n={s['n']})" if s else ""
        lines.append(f"| MIG GPU {r['gpu']}: instances {mig.get('instances', mig.get('error'))}{timing} | | | | |")
    return lines
