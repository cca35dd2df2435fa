"""The accepted time window and empty messages, at decode (the Kafka path's decoder)."""

from __future__ import annotations

import json
import time

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import node_samples_from_frame
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInventory
from gpufleet.contract.times import TimeWindow
from pipeline.kafka.decoder import decode_models, decode_samples

DAY_MS = 86_400_000
NOW = int(time.time() * 1000)


def node_message(ts_ms: int | None = None, **change: object) -> bytes:
    fleet = SyntheticFleet(8, 2, load_scenario("none"), NOW - 5_000, 1.0, 60)
    message = json.loads(node_samples_from_frame(fleet.tick()[0])[0].model_dump_json())
    if ts_ms is not None:
        message["ts_ms"] = ts_ms
    message.update(change)
    return json.dumps(message).encode()


def test_window_reasons_say_how_far_out() -> None:
    window = TimeWindow.of(14, 300)
    assert (
        window.reason(NOW, NOW) == "" and window.reason(NOW + 299_000, NOW) == "" and window.reason(NOW - 13 * DAY_MS, NOW) == ""
    )
    assert window.reason(NOW + 2 * DAY_MS, NOW) == f"ts_ms {NOW + 2 * DAY_MS} is 2 days in the future (limit 5 min)"
    assert window.reason(0, NOW).endswith("days old, beyond the raw TTL (14 days)")
    assert "in the future" in window.reason(2**62, NOW)
    assert window.reason(0, NOW, check_age=False) == ""
    stamps = np.array([NOW, 0, 2**62, NOW + 301_000, NOW - 15 * DAY_MS], dtype=np.int64)
    assert window.outside(stamps, NOW).tolist() == [False, True, True, True, True]


def test_samples_outside_the_window_and_empty_messages_are_refused_with_the_reason() -> None:
    values = [
        node_message(),
        node_message(0),
        node_message(2**62),
        node_message(NOW + DAY_MS),
        node_message(NOW - 30 * DAY_MS),
        node_message(gpus=[]),
        b"",
    ]
    frame, refused = decode_samples(values, window=TimeWindow())
    assert len(frame) == 8 and set(frame.ts_ms.tolist()) == {json.loads(values[0])["ts_ms"]}
    reasons = {r.index: r.reason for r in refused}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert all(reasons[i].startswith("out of time window: ts_ms ") for i in (1, 2, 3, 4))
    assert "beyond the raw TTL" in reasons[1] and "in the future" in reasons[2] and "in the future" in reasons[3]
    assert reasons[5].startswith("invalid gpus: List should have at least 1 item")
    assert reasons[6] == "empty message: 0 bytes"
    frame, refused = decode_samples(values[:5])  # no window: only the schema's rules
    assert len(frame) == 5 * 8 and not refused


def test_events_readings_and_inventory_are_checked_too() -> None:
    labels = {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n"}
    events = [GpuEvent(**labels, ts_ms=ts, kind="collector_start").model_dump_json().encode() for ts in (NOW, NOW + DAY_MS, 5)]
    kept, refused = decode_models(events, GpuEvent, 1024, TimeWindow())
    assert len(kept) == 1 and [r.index for r in refused] == [1, 2] and all("out of time window" in r.reason for r in refused)
    reading = {"site": "s", "hall": "h", "rack": "k", "sensor": "pdu_power_w", "value": 10.0}
    readings = [FacilitySample(**reading, ts_ms=ts).model_dump_json().encode() for ts in (NOW, 2**62)]
    kept, refused = decode_models(readings, FacilitySample, 1024, TimeWindow())
    assert len(kept) == 1 and [r.index for r in refused] == [1]
    old = GpuInventory(**labels, ts_ms=NOW - 400 * DAY_MS, gpu_index=0, uuid="GPU-1", model="H100").model_dump_json().encode()
    kept, refused = decode_models([old, b""], GpuInventory, 4096, TimeWindow(), check_age=False)
    assert len(kept) == 1 and refused[0].reason == "empty message: 0 bytes"  # inventory may be as old as the GPU
