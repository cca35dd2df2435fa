"""Ingest one frame while the store refuses it, and have "the operator" fix the store mid-retry.

Used by the dedup tests: ingest backs off on a retryable store error and calls the broker's
`keepalive` while it waits; after two retries the fix runs once, and ingest's next attempt
with the same delivery token must store every level exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gpufleet.contract.frame import GpuFrame
from pipeline.ingest import Backoff, Ingest
from pipeline.memory import MemoryBroker
from pipeline.transport import Delivery
from storage.clickhouse import ClickHouseStore

FAST = Backoff(first_s=0.01, max_s=0.05)


def ingest_fixed_after_two_retries(store: ClickHouseStore, frame: GpuFrame, fix: Callable[[], None]) -> tuple[Ingest, Delivery]:
    """One `Ingest.step` over `frame`; `fix` runs once, after the second retry, while nothing is committed."""
    fixed: list[bool] = []

    class Fixing(MemoryBroker):
        def keepalive(self, timeout_s: float) -> None:  # called by ingest while it backs off
            if ingest.stats.store_retries >= 2 and not fixed:
                assert self.backlog == 1, "nothing committed while the store refuses"
                fix()
                fixed.append(True)
            time.sleep(0.005)

    broker = Fixing()
    ingest = Ingest(broker, store, FAST)
    broker.publish_samples(frame)
    delivery = ingest.step()
    assert delivery is not None and broker.backlog == 0 and fixed
    assert ingest.stats.store_retries == 2 and ingest.stats.store_refused == 0
    return ingest, delivery
