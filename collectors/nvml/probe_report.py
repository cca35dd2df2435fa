"""The Markdown page of a hardware probe (`docs/hardware/<model>.md`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

SMI_SCALE = {"power_mw": 1000.0, "power_limit_mw": 1000.0}  # nvidia-smi prints W; NVML mW
MAX_ATTACHED_CHARS = 6000


def render(result: dict[str, Any], attachments: list[Path]) -> str:
    inv = result["inventory"][0] if result["inventory"] else {}
    t = result["tick"]
    r = result["slow_refresh"]
    lines = [
        f"# {inv.get('model', 'unknown GPU')}: what NVML reports to gpufleet",
        "",
        f"Written by `scripts/gpu-check` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"({result['gpus']} GPU(s), driver {inv.get('driver_version')}, CUDA {inv.get('cuda_version')}, "
        f"VBIOS {inv.get('vbios_version')}, MIG {inv.get('mig_mode')}).",
        "",
        "## One full tick (`NvmlSource.sample`, all GPUs)",
        "",
        "| ticks | p50 ms | p99 ms | max ms | target |",
        "|---:|---:|---:|---:|---|",
        f"| {t['n']} | {t['p50_us'] / 1000:.2f} | {t['p99_us'] / 1000:.2f} | {t['max_us'] / 1000:.2f} | ≤ 10 ms |",
        "",
        "The slow reads (PCIe throughput, energy) run on the refresher thread, once per interval; one sweep of",
        "all GPUs took:",
        "",
        "| sweeps | p50 ms | p99 ms | max ms |",
        "|---:|---:|---:|---:|",
        f"| {r['n']} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['max_us'] / 1000:.2f} |",
        "",
        "## Values (GPU 0) and verdicts",
        "",
        "| column | value | nvidia-smi | verdict |",
        "|---|---:|---:|---|",
    ]
    smi = result["nvidia_smi"][0] if result["nvidia_smi"] else {}
    for v in result["verdicts"]:
        if v["gpu"] != 0:
            continue
        ref = smi.get(v["column"])
        ref_text = "" if ref is None else f"{ref * SMI_SCALE.get(v['column'], 1.0):g}"
        lines.append(f"| `{v['column']}` | {v['value']} | {ref_text} | {v['verdict']} |")
    lines += [
        "",
        f"## Latency of each NVML query (GPU 0, {result['ticks']} calls; unsupported ones stop after 3)",
        "",
        "| query | columns | NVML return | last value | p50 µs | p99 µs | max µs |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in result["reads"]:
        if r["gpu"] != 0:
            continue
        codes = ", ".join(_code_name(c) for c in r["codes"])
        lines.append(
            f"| `{r['read']}` | {', '.join(r['columns'])} | {codes} | {_short(r['value'])} "
            f"| {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['max_us']:.1f} |"
        )
    from collectors.nvml.probe_gpm import render as render_gpm

    lines += render_gpm(result.get("gpm_recovery_processes", []))
    lines += [
        "",
        "## Events",
        "",
        f"GPUs registered for XID events: {result['xid_registered']}; events seen during the probe: {len(result['events'])}.",
        "",
        "## Inventory (GPU 0)",
        "",
        "```json",
        *[f"  {k}: {v!r}" for k, v in inv.items()],
        "```",
    ]
    for path in attachments:
        if path.is_file():
            text = path.read_text(errors="replace")
            cut = "" if len(text) <= MAX_ATTACHED_CHARS else f"\n... ({len(text) - MAX_ATTACHED_CHARS} more characters)"
            lines += ["", f"## `{path.name}`", "", "```", text[:MAX_ATTACHED_CHARS] + cut, "```"]
    return "\n".join(lines) + "\n"


_CODE_NAMES = {0: "SUCCESS", 3: "NOT_SUPPORTED", 4: "NO_PERMISSION", 10: "TIMEOUT", 13: "FUNCTION_NOT_FOUND", 15: "GPU_IS_LOST"}


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _code_name(code: int) -> str:
    return _CODE_NAMES.get(code, f"error {code}")
