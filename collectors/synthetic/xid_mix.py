"""Which XID a random GPU interruption shows, weighted like Llama 3's 419 unexpected ones.

Counts are Table 5 of the Llama 3 paper (shared/reference/fleet-numbers.md §1), limited to
the GPU categories, which are the ones that surface as XIDs. Each category spreads its
weight evenly over the XIDs that category produces on Hopper.
"""

from __future__ import annotations

import numpy as np

LLAMA3_GPU_CATEGORIES: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("faulty GPU", 148, (79, 109, 119, 120, 62, 74)),
    ("GPU HBM3 memory", 72, (48, 63, 64, 94, 95)),
    ("GPU SRAM memory", 19, (140, 94)),
    ("GPU system processor", 17, (119, 120)),
    ("silent data corruption", 6, (13,)),
    ("GPU thermal interface + sensor", 6, (61,)),
)


def xid_weights() -> tuple[np.ndarray, np.ndarray]:
    """(xid codes, probabilities) for drawing random XIDs."""
    weights: dict[int, float] = {}
    for _, count, xids in LLAMA3_GPU_CATEGORIES:
        for xid in xids:
            weights[xid] = weights.get(xid, 0.0) + count / len(xids)
    codes = np.array(sorted(weights), dtype=np.int64)
    probs = np.array([weights[c] for c in codes.tolist()])
    return codes, probs / probs.sum()
