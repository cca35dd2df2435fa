"""Capped exponential backoff, the one retry policy every stage uses (ingest's store writes,
the Kafka producer's reconnects, the MQTT bridge's reconnects and sink retries).

Attempt n waits first_s x 2^n, at most max_s, times a random factor in [0.5, 1) when
`jitter` is on, so many processes that lost the same broker do not all return at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    first_s: float = 0.2
    max_s: float = 5.0
    jitter: bool = True

    def delay_s(self, attempt: int) -> float:
        delay = float(min(self.max_s, self.first_s * 2**attempt))
        return delay * random.uniform(0.5, 1.0) if self.jitter else delay
