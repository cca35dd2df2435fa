"""Cost of one /metrics scrape of an 8-GPU collector: render the latest frame as text.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_exposition_scrape.py [--scrapes 2000]

Baseline measured in the same run: prometheus_client's own `generate_latest` over the same
families (what the exposition would cost without its dcgm-exporter-shaped writer).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

import collectors.nvml.double as nvml
from collectors.base import SourceConfig, create_source
from collectors.nvml.source import NvmlSource
from collectors.prometheus.exposition import GpuExposition
from collectors.prometheus.server import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scrapes", type=int, default=2000)
    opts = parser.parse_args()
    nvml.reset(gpus=8, seed=1)
    source = create_source(SourceConfig(kind="nvml", nvml_module="collectors.nvml.double"))
    assert isinstance(source, NvmlSource)
    exposition = GpuExposition()
    source.open(lambda event: exposition.publish_events([event]))
    exposition.publish_inventory(source.inventory())
    nvml.advance()
    exposition.publish_samples(source.sample(1_767_225_601_000))
    registry = CollectorRegistry()
    registry.register(exposition)
    size = len(render(registry.collect()))
    timings = {}
    steps: dict[str, Callable[[], bytes]] = {
        "render (gpufleet)": lambda: render(registry.collect()),
        "generate_latest": lambda: generate_latest(registry),
    }
    for name, fn in steps.items():
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(opts.scrapes // 5):
                fn()
            best = min(best, (time.perf_counter() - started) / (opts.scrapes // 5))
        timings[name] = best
    source.close()
    base = timings["generate_latest"]
    print(f"one scrape of 8 GPUs ({size} bytes of text), best of 5 rounds of {opts.scrapes // 5}")
    for name, seconds in timings.items():
        print(f"  {name:<20} {seconds * 1e6:8.0f} us   x{seconds / base:.2f} of generate_latest")
    print(f"  at one scrape per 15 s: {timings['render (gpufleet)'] / 15 * 100:.4f} % of one core")


if __name__ == "__main__":
    main()
