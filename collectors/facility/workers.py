"""Several bridge receivers for one site: MQTT shared subscription across processes.

A stock aiomqtt client tops out near 15,000 QoS 1 messages/s on a 2-core machine, and the
bridge, reading in bursts (fastread.py), near 22,000-26,000 readings/s; where one core is not
enough, `--workers N` starts N receiver processes on the shared subscription
`$share/<group>/<filter>` (the broker deals each message to one of them); each parses and
validates, and hands batches over a bounded queue to this process, the only one that
writes (chDB allows one writer per data path). A full queue blocks the receivers: the
broker keeps the backlog, nothing is dropped.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from collectors.facility.bridge import BridgeStats, FacilitySink, MqttBridge, MqttConfig, Rejected, write_batch
from gpufleet.contract.schema import FacilitySample
from gpufleet.contract.times import TimeWindow

_DONE = "done"
WRITE_ROWS_MAX = 20_000


class _QueueSink:
    """A worker's sink: batches go to the writing process; blocks while the queue is full."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, readings: Sequence[FacilitySample], rejected: Sequence[Rejected], token: str) -> None:
        self.out.put((list(readings), list(rejected)))  # the writing process gives the batch its own token


def _worker(config: MqttConfig, out: Any, stop: MpEvent, window: TimeWindow) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop

    async def main() -> None:
        done = asyncio.Event()
        bridge = MqttBridge(config, _QueueSink(out), batch_max=2_000, flush_interval_s=0.2, window=window)

        async def watch() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.1)
            done.set()

        await asyncio.gather(bridge.run(done), watch())

    asyncio.run(main())
    out.put(_DONE)


def run_workers(
    config: MqttConfig, sink: FacilitySink, workers: int, stop: MpEvent, window: TimeWindow, group: str = "gpufleet"
) -> BridgeStats:
    """Receive on `workers` processes, write here until `stop` is set and the queue drained.

    `window` (from the settings: `Settings.time_window()`) is what each receiver checks
    reading times against; it is a required argument because a default here once made the
    workers ignore `raw_ttl_days` and `max_clock_ahead_s`."""
    ctx = mp.get_context("spawn")  # no fork: this process may hold chDB and Kafka threads
    out = ctx.Queue(maxsize=64)
    shared = f"$share/{group}/{config.topic_filter}"
    procs = [
        ctx.Process(
            target=_worker, args=(replace(config, client_id=f"{config.client_id}-{i}", topic_filter=shared), out, stop, window)
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    stats, finished, batches, run = BridgeStats(), 0, 0, f"{time.time_ns():x}"
    try:
        while finished < workers:
            try:
                item = out.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            readings, rejected, done = _with_waiting(out, item)
            finished += done
            if not readings and not rejected:
                continue
            write_batch(sink, readings, rejected, f"mqtt:{run}:w{batches}", stats, stop.is_set)
            batches += 1
            stats.received += len(readings) + len(rejected)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return stats


def _with_waiting(out: Any, item: Any) -> tuple[list[FacilitySample], list[Rejected], int]:
    """`item` and the batches already waiting behind it, as one write: each insert has a
    fixed cost (tens of ms in chDB) that is better paid once per 20,000 rows than per 2,000."""
    readings: list[FacilitySample] = []
    rejected: list[Rejected] = []
    done = 0
    while True:
        if item == _DONE:
            done += 1
        else:
            readings += item[0]
            rejected += item[1]
        if len(readings) + len(rejected) >= WRITE_ROWS_MAX:
            return readings, rejected, done
        try:
            item = out.get_nowait()
        except queue.Empty:
            return readings, rejected, done


def new_stop_event() -> MpEvent:
    return mp.get_context("spawn").Event()
