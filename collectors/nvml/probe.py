"""Hardware check for the NVML collector: what a real GPU answers, how fast, and is it plausible.

`scripts/gpu-check` runs this on a machine with NVIDIA GPUs (CI runs it against the
double). For every read of the field table it calls NVML directly on every GPU for N
ticks, recording the return code and the latency; it times full `NvmlSource.sample()`
ticks; it checks each column of the sampled frame against a plausible range, and that a
null column is null because NVML said the GPU does not support it. The result is a JSON
file and a Markdown page (`docs/hardware/<model>.md`).

    python -m collectors.nvml.probe --ticks 100 --json probe.json --markdown docs/hardware/
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collectors.base import SourceConfig
from collectors.nvml import gpm, probe_gpm
from collectors.nvml.clock_reasons import KNOWN_MASK, decode
from collectors.nvml.fields import READS, CallRead, FieldRead
from collectors.nvml.lib import SUCCESS, NvmlCallError, NvmlLib
from collectors.nvml.sampler import GpuState
from collectors.nvml.source import NvmlSource
from gpufleet.contract.columns import GPM_PCT_COLUMNS, METRIC_NAMES
from gpufleet.contract.frame import GpuFrame

# What a working H100/H200-class GPU can report; outside this a value is suspect.
PLAUSIBLE: dict[str, tuple[int, int]] = {
    "power_mw": (10_000, 1_200_000),
    "power_instant_mw": (10_000, 2_000_000),
    "energy_mj": (1, 2**63),
    "power_limit_mw": (100_000, 1_200_000),
    "gpu_temp_c": (5, 100),
    "mem_temp_c": (5, 110),
    "util_gpu_pct": (0, 100),
    "util_mem_pct": (0, 100),
    "mem_used_mib": (0, 300_000),
    "mem_total_mib": (1_000, 300_000),
    "sm_clock_mhz": (100, 3_000),
    "mem_clock_mhz": (400, 12_000),
    "clocks_event_reasons": (0, KNOWN_MASK),
    "pstate": (0, 15),
    "ecc_corrected_count": (0, 10**9),
    "ecc_uncorrected_count": (0, 10**6),
    "remapped_rows_correctable": (0, 10_000),
    "remapped_rows_uncorrectable": (0, 10_000),
    "remap_pending": (0, 1),
    "remap_failure": (0, 1),
    "pcie_tx_kbps": (0, 128_000_000),
    "pcie_rx_kbps": (0, 128_000_000),
    "pcie_replay_count": (0, 10**9),
    "nvlink_tx_kib": (0, 2**63),
    "nvlink_rx_kib": (0, 2**63),
    "nvlink_crc_errors": (0, 10**12),
    "nvlink_replay_errors": (0, 10**12),
    "nvlink_recovery_errors": (0, 10**12),
    **{name: (0, 100) for name in GPM_PCT_COLUMNS},
    "gpm_pcie_tx_mibps": (0, 128_000),  # PCIe 5 x16: ~64 GB/s each way
    "gpm_pcie_rx_mibps": (0, 128_000),
    "gpm_nvlink_tx_mibps": (0, 1_000_000),  # NVLink 4: 450 GB/s each way
    "gpm_nvlink_rx_mibps": (0, 1_000_000),
    "recovery_action": (0, 7),
}
SMI_QUERY: dict[str, str] = {
    "power_mw": "power.draw",
    "gpu_temp_c": "temperature.gpu",
    "mem_used_mib": "memory.used",
    "mem_total_mib": "memory.total",
    "sm_clock_mhz": "clocks.sm",
    "mem_clock_mhz": "clocks.mem",
    "power_limit_mw": "enforced.power.limit",
}


# Fields not in the table, asked to learn what the hardware offers: PCIe byte counters
# (a cheaper source for pcie_*_kbps than the 20 ms nvmlDeviceGetPcieThroughput window),
# power limits, energy (191) and the GPU recovery action.
EXTRA_FIELDS: tuple[FieldRead, ...] = tuple(FieldRead(f"extra_{fid}", (fid,)) for fid in (187, 188, 189, 190, 191, 197, 198, 230))


def batch_read() -> FieldRead:
    """Every field id of the table in one request, as a tick asks for them."""
    ids = tuple(dict.fromkeys(fid for r in READS if isinstance(r, FieldRead) for fid in r.field_ids))
    return FieldRead("batch", ids)


def time_reads(lib: NvmlLib, gpus: Sequence[GpuState], ticks: int) -> list[dict[str, Any]]:
    """Call every read of the field table on every GPU `ticks` times; latency and answers."""
    out = []
    for gpu in gpus:
        for read in (*READS, batch_read(), *EXTRA_FIELDS):
            lat_us: list[float] = []
            codes: set[int] = set()
            value: Any = None
            for _ in range(ticks):
                t0 = time.perf_counter_ns()
                code, value = _read_once(lib, gpu.handle, read)
                lat_us.append((time.perf_counter_ns() - t0) / 1000.0)
                codes.add(code)
                if code != SUCCESS and ticks > 3 and len(lat_us) >= 3:
                    break  # an unsupported read answers the same every time
            out.append(
                {
                    "gpu": gpu.index,
                    "read": read.key,
                    "columns": list(read.columns),
                    "codes": sorted(codes),
                    "value": value,
                    **_stats(lat_us),
                }
            )
    return out


def _read_once(lib: NvmlLib, handle: Any, read: FieldRead | CallRead) -> tuple[int, Any]:
    try:
        if isinstance(read, FieldRead) and read.column == "batch":
            results = lib.field_values(handle, read.request())
            return SUCCESS, {f"{fid}": (ret, v) for fid, (ret, v) in zip(read.field_ids, results, strict=True)}
        if isinstance(read, FieldRead):
            results = lib.field_values(handle, read.request())
            bad = [ret for ret, _ in results if ret != SUCCESS]
            return (bad[0], None) if bad else (SUCCESS, [v for _, v in results])
        raw = lib.call(read.function, handle, *read.args)
        return SUCCESS, list(read.convert(raw))
    except NvmlCallError as e:
        return e.code, None


def _stats(values_us: list[float]) -> dict[str, float]:
    ordered = sorted(values_us)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_us": statistics.median(ordered), "p99_us": p99, "max_us": ordered[-1]}


def time_ticks(source: NvmlSource, ticks: int) -> tuple[dict[str, float], GpuFrame]:
    """Time `ticks` full sweeps of every GPU; returns the stats and the last frame."""
    lat_us: list[float] = []
    frame = GpuFrame.empty()
    for _ in range(ticks):
        time.sleep(gpm.MIN_INTERVAL_S)  # GPM samples of a GPU must be >= 100 ms apart: wait outside the timing
        t0 = time.perf_counter_ns()
        frame = source.sample(time.time_ns() // 1_000_000)
        lat_us.append((time.perf_counter_ns() - t0) / 1000.0)
    return _stats(lat_us), frame


def time_refresh(source: NvmlSource, sweeps: int) -> dict[str, float]:
    """Time the slow reads' sweep of all GPUs (runs on the refresher thread, not the tick)."""
    lat_us: list[float] = []
    if source.refresher is not None:
        for _ in range(sweeps):
            t0 = time.perf_counter_ns()
            source.refresher.refresh()
            lat_us.append((time.perf_counter_ns() - t0) / 1000.0)
    return _stats(lat_us or [0.0])


def check_frame_values(
    frame: GpuFrame, reads: list[dict[str, Any]], gpm_probe: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per GPU and column: ok, implausible, or null (and whether NVML said unsupported)."""
    verdicts = []
    for row in range(len(frame)):
        gpu = int(frame.gpu_index[row])
        for name in METRIC_NAMES:
            null = bool(frame.null_mask(name)[row])
            value = None if null else int(frame.metrics[name][row])
            answers = [r for r in reads if r["gpu"] == gpu and name in r["columns"]]
            codes = sorted({c for r in answers for c in r["codes"]})
            if name in gpm.COLUMNS:
                codes = _gpm_codes(gpm_probe or [], gpu, name)
            verdicts.append({"gpu": gpu, "column": name, "value": value, **_verdict(name, value, codes)})
    return verdicts


def _gpm_codes(probed: list[dict[str, Any]], gpu: int, column: str) -> list[int]:
    """What NVML answered for the GPM metric behind `column` (3 = NOT_SUPPORTED without GPM)."""
    mine = next((p for p in probed if p["gpu"] == gpu), None)
    if mine is None:
        return []
    if not mine["gpm_supported"]:
        return [3]
    answer = mine["gpm_metrics"].get(str(gpm.METRIC_IDS[gpm.COLUMNS.index(column)]))
    return [] if answer is None else [int(answer["code"])]


def _verdict(name: str, value: int | None, codes: list[int]) -> dict[str, Any]:
    if value is None:
        unsupported = bool(codes) and SUCCESS not in codes and set(codes) <= {3, 13}
        return {"ok": unsupported, "verdict": "null: unsupported" if unsupported else f"null, NVML codes {codes}"}
    lo, hi = PLAUSIBLE[name]
    if not lo <= value <= hi:
        return {"ok": False, "verdict": f"implausible (expected {lo}..{hi})"}
    note = f"ok {decode(value)}" if name == "clocks_event_reasons" else "ok"
    return {"ok": True, "verdict": note}


def nvidia_smi(columns: dict[str, str]) -> list[dict[str, float | None]]:
    """nvidia-smi's view of the same values, to compare with the collector (W, °C, MiB, MHz)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = ",".join(columns.values())
    try:
        text = subprocess.run(
            [exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            check=False,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        rows.append({col: _number(p) for col, p in zip(columns, parts, strict=False)})
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def run_probe(module: str, ticks: int) -> dict[str, Any]:
    source = NvmlSource(SourceConfig(kind="nvml", nvml_module=module, topology={"node": "gpu-check"}))
    events: list[str] = []
    source.open(lambda e: events.append(e.model_dump_json()))
    try:
        lib = NvmlLib(module)  # a second handle on the same initialised library
        lib.init()
        inventory = [i.model_dump(mode="json") for i in source.inventory()]
        reads = time_reads(lib, source.gpus, ticks)
        source.sample(time.time_ns() // 1_000_000)  # warm: unsupported reads found and dropped
        tick_stats, frame = time_ticks(source, ticks)
        refresh_stats = time_refresh(source, max(3, ticks // 10))
        issue15 = probe_gpm.probe_all(lib, source.gpus, min(ticks, 20))
        verdicts = check_frame_values(frame, reads, issue15)
        registered = list(source.listener.registered) if source.listener else []
        lib.shutdown()
    finally:
        source.close()
    return {
        "module": module,
        "ticks": ticks,
        "gpus": len(source.gpus),
        "inventory": inventory,
        "tick": tick_stats,
        "slow_refresh": refresh_stats,
        "reads": reads,
        "verdicts": verdicts,
        "xid_registered": registered,
        "gpm_recovery_processes": issue15,
        "events": events,
        "nvidia_smi": nvidia_smi(SMI_QUERY),
    }


def model_slug(result: dict[str, Any]) -> str:
    model = result["inventory"][0]["model"] if result["inventory"] else "unknown"
    return re.sub(r"[^a-z0-9]+", "-", str(model).lower()).strip("-") or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collectors.nvml.probe", description=__doc__)
    parser.add_argument("--module", default="pynvml", help="NVML binding to load (default: %(default)s)")
    parser.add_argument("--ticks", type=int, default=100, help="ticks to time (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the raw result here")
    parser.add_argument("--markdown", type=Path, metavar="DIR", help="write <model>.md into this folder")
    parser.add_argument("--attach", nargs="*", default=[], metavar="FILE", help="command outputs to quote in the page")
    args = parser.parse_args(argv)
    result = run_probe(args.module, args.ticks)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.markdown:
        from collectors.nvml.probe_report import render

        args.markdown.mkdir(parents=True, exist_ok=True)
        page = args.markdown / f"{model_slug(result)}.md"
        page.write_text(render(result, [Path(p) for p in args.attach]))
        print(f"wrote {page}")
    bad = [v for v in result["verdicts"] if not v["ok"]]
    print(f"{result['gpus']} GPUs, tick p50 {result['tick']['p50_us'] / 1000:.2f} ms, {len(bad)} suspect values")
    for v in bad:
        print(f"  gpu {v['gpu']} {v['column']}: {v['value']!r} {v['verdict']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
