"""Cost of ingest's repeat filter (`pipeline/repeats.py`) per delivery, against decoding it.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_repeats.py [--gpus 40000] [--ticks 24]

A synthetic fleet's ticks, one delivery per tick (`gpus / 8` node messages), as ingest
sees them: decoded (`decode_samples`, the baseline, measured in the same run), then
`DropRepeats.drop` + `remember`. Cases, each the median over the measured ticks:

- usual: every timestamp newer than what the filter remembers for its node (no ring lookup);
- late: ticks arriving in reverse order (older than the newest: every key looked up, none found);
- repeated: a tick stored already, delivered again (every key found, every row dropped);
- per-GPU: a tick split by a third-party producer into one message per GPU (8x the
  messages, same rows), after another tick's per-GPU messages were remembered.
Memory: the filter's arrays per node seen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from pipeline.kafka.codec import encode_node_samples
from pipeline.kafka.decoder import decode_samples
from pipeline.repeats import DropRepeats


def _ms(fn: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def _per_gpu(messages: list[bytes]) -> list[bytes]:
    out = []
    for m in messages:
        parsed = json.loads(m)
        out += [json.dumps({**parsed, "gpus": [gpu]}).encode() for gpu in parsed["gpus"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=40_000)
    parser.add_argument("--ticks", type=int, default=24, help="ticks measured per case (plus as many to warm up)")
    args = parser.parse_args()
    start_ms = int(time.time()) * 1000 - 3 * args.ticks * 1000
    fleet = SyntheticFleet(args.gpus, 11, load_scenario("none"), start_ms, 1.0, 3 * args.ticks + 5)
    ticks = [[value for _, value, _ in encode_node_samples(fleet.tick()[0])] for _ in range(2 * args.ticks)]
    decode_ms = [_ms(decode_samples, tick) for tick in ticks]
    frames = [decode_samples(tick)[0] for tick in ticks]
    warm, measured = frames[: args.ticks], frames[args.ticks :]

    def drop_and_remember(repeats: DropRepeats, frame: GpuFrame) -> None:
        _, dropped = repeats.drop(frame)
        repeats.remember(dropped.kept)

    usual = DropRepeats()
    for frame in warm:
        drop_and_remember(usual, frame)
    usual_ms = [_ms(drop_and_remember, usual, f) for f in measured]
    late = DropRepeats()
    drop_and_remember(late, frames[-1])
    late_ms = [_ms(drop_and_remember, late, f) for f in reversed(frames[:-1])][: args.ticks]
    repeated_ms = [_ms(drop_and_remember, usual, f) for f in measured]  # all stored above
    split = [_per_gpu(t) for t in ticks[-3:]]
    split_decode_ms = [_ms(decode_samples, s) for s in split]
    per_gpu = DropRepeats()
    drop_and_remember(per_gpu, decode_samples(split[0])[0])
    per_gpu_frames = [decode_samples(s)[0] for s in split[1:]]
    per_gpu_ms = [_ms(drop_and_remember, per_gpu, f) for f in per_gpu_frames]
    base = statistics.median(decode_ms)
    print(f"{platform.node()} ({os.cpu_count()} CPUs), load {os.getloadavg()[0]:.1f}; {args.gpus:,} GPUs,"
          f" {len(ticks[0]):,} messages per delivery, median of {args.ticks}")  # fmt: skip
    print(f"  decode (baseline)       {base:8.2f} ms per delivery")
    for name, values in (("usual", usual_ms), ("late", late_ms), ("repeated", repeated_ms)):
        median = statistics.median(values)
        print(f"  filter, {name:<15} {median:8.2f} ms   {100 * median / base:5.1f} % of decode")
    median, split_base = statistics.median(per_gpu_ms), statistics.median(split_decode_ms)
    print(f"  filter, per-GPU split   {median:8.2f} ms   {100 * median / split_base:5.1f} % of its decode"
          f" ({split_base:.0f} ms, {len(split[0]):,} messages)")  # fmt: skip
    arrays = [a for a in vars(usual).values() if isinstance(a, np.ndarray)]
    slots = max(len(a) for a in arrays)
    print(f"  memory: {sum(a.nbytes for a in arrays) / slots:,.0f} bytes per node slot ({usual.nodes:,} nodes, {slots:,} slots)")


if __name__ == "__main__":
    main()
