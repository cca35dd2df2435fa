"""gpu_hour's histograms are the same whichever key width the sort uses."""

from __future__ import annotations

import numpy as np

from storage.rollups_hour import _histograms


def test_histograms_agree_on_32_and_64_bit_keys() -> None:
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 30, 40)  # 40 minute rows, some with no values
    offsets = np.cumsum(lengths).astype(np.uint64)
    flat = rng.choice(np.array([0, 1, 5, 65_535], dtype=np.uint16), int(lengths.sum()))
    hour_of_minute = np.repeat(np.arange(8), 5).astype(np.int64)  # 8 hour rows of 5 minutes each
    narrow = _histograms((offsets, flat), hour_of_minute, 8)  # 32-bit keys
    wide = _histograms((offsets, flat), hour_of_minute, 70_000)  # more hour rows than 16 bits: 64-bit keys
    np.testing.assert_array_equal(wide[0][:8], narrow[0])
    assert (wide[0][8:] == narrow[0][-1]).all()  # the hour rows past the 8th are empty
    for a, b in zip(narrow[1:], wide[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    # the histogram of hour row 0, by hand
    values = flat[: int(lengths[:5].sum())]
    distinct, counts = np.unique(values, return_counts=True)
    end = int(narrow[0][0])
    np.testing.assert_array_equal(narrow[1][:end], distinct)
    np.testing.assert_array_equal(narrow[2][:end], counts)
