"""The report's hour+minute queries give exactly what the minute rollup alone gives.

report_rack_floor, report_throttled, report_stragglers, report_energy and report_pipeline
read whole hours inside the window from gpu_hour and the partial hours at its ends from
gpu_minute. Each is checked against itself with the hour branch removed (so it reads
gpu_minute only), and report_energy and report_throttled against the shared minute-rollup
queries they stand in for (energy, throttled_gpus), over windows that start and end
mid-hour, on hour boundaries, inside one hour, and at hh:59.
"""

from __future__ import annotations

import re
import time

import pytest

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from storage import queries
from storage.clickhouse import ClickHouseStore

GPUS, INTERVAL_S, RUN_S, SEED = 128, 10.0, 3 * 3600, 4
HYBRID = ("report_rack_floor", "report_throttled", "report_stragglers", "report_energy", "report_pipeline")
EXTRA = {"report_throttled": {"min_s": 1, "limit": 1000}, "report_stragglers": {"limit": 1000}}


def minute_only(name: str) -> str:
    """The query with its gpu_hour branch emptied and the minute branch over the whole window."""
    text = queries.get(name).text
    text, hours = re.subn(r"FROM gpu_hour WHERE hour >= h0 AND hour < h1", "FROM gpu_hour WHERE 0", text)
    text, minutes = re.subn(r" AND NOT \(minute >= h0 AND minute < h1\)", "", text)
    assert hours == minutes == 1, name
    return text


@pytest.fixture
def fleet_store(store: ClickHouseStore) -> tuple[ClickHouseStore, int]:
    hour_ms = 3_600_000
    start_ms = (int(time.time() * 1000) // hour_ms - 3) * hour_ms + 20 * 60_000  # starts at hh:20, ends 3 h later
    fleet = SyntheticFleet(GPUS, SEED, load_scenario("default"), start_ms, INTERVAL_S, float(RUN_S))
    frames = [fleet.tick()[0] for _ in range(int(RUN_S / INTERVAL_S))]
    for i in range(0, len(frames), 90):  # 15 minutes per insert: rollup rows merge across inserts, as in production
        store.insert_samples(GpuFrame.concat(frames[i : i + 90]), f"hybrid-{i}")
    return store, start_ms


def test_hour_and_minute_rollups_agree_with_minutes_alone(fleet_store: tuple[ClickHouseStore, int]) -> None:
    store, start_ms = fleet_store
    hour_ms, minute_ms = 3_600_000, 60_000
    first_hour = start_ms - 20 * minute_ms + hour_ms
    windows = [
        (start_ms + 7 * minute_ms + 13_000, start_ms + RUN_S * 1000 - 11 * minute_ms - 5_000),  # mid-hour to mid-hour
        (first_hour, first_hour + hour_ms - 1),  # exactly one whole hour
        (first_hour + 10 * minute_ms, first_hour + 40 * minute_ms),  # inside one hour: minutes only
        (start_ms, first_hour + 59 * minute_ms),  # ends at hh:59:00, the last minute of a whole hour
        (start_ms - hour_ms, start_ms + RUN_S * 1000 + hour_ms),  # wider than the data
    ]
    seen_rows = dict.fromkeys(HYBRID, 0)
    for from_ms, to_ms in windows:
        for name in HYBRID:
            params = {"from_ms": from_ms, "to_ms": to_ms, **EXTRA.get(name, {})}
            got = queries.run(store, name, params)
            expected = store.query(minute_only(name), queries.get(name).bind(params))
            assert got.columns == expected.columns
            assert got.rows == expected.rows, (name, from_ms, to_ms)
            seen_rows[name] += len(got.rows)
        window = {"from_ms": from_ms, "to_ms": to_ms}
        assert queries.run(store, "report_energy", window).rows == queries.run(store, "energy", window).rows
        throttled = queries.run(store, "report_throttled", {**window, "min_s": 1, "limit": 1000}).rows
        assert [r[:-1] for r in throttled] == queries.run(store, "throttled_gpus", {**window, "min_s": 1, "limit": 1000}).rows
    assert all(seen_rows.values()), seen_rows  # every query had something to agree on
    hours = store.query("SELECT uniqExact(hour) FROM gpu_hour").rows[0][0]
    assert hours == 4  # the data spans four clock hours, so the hour branch was really read
