"""Per-GPU messages from a third-party producer: the same `(node, ts)` in several messages,
one GPU each, are different rows, not repeats (`pipeline.repeats`, what the wire allows)."""

from __future__ import annotations

import json
import time

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import node_samples_from_frame
from pipeline.kafka.decoder import decode_samples
from pipeline.repeats import DropRepeats


def per_gpu_messages() -> list[bytes]:
    """One 8-GPU node tick, split into 8 messages of one GPU each (same node, same ts)."""
    fleet = SyntheticFleet(8, 4, load_scenario("none"), int(time.time()) * 1000, 1.0, 60)
    message = json.loads(node_samples_from_frame(fleet.tick()[0])[0].model_dump_json())
    return [json.dumps({**message, "gpus": [gpu]}).encode() for gpu in message["gpus"]]


def stored(repeats: DropRepeats, messages: list[bytes]) -> tuple[list[int], int, int]:
    frame, refused = decode_samples(messages)
    assert not refused
    kept, dropped = repeats.drop(frame)
    repeats.remember(dropped.kept)
    return sorted(kept.gpu_index.tolist()), dropped.messages, dropped.rows


def test_per_gpu_messages_across_deliveries_are_all_kept() -> None:
    gpus = per_gpu_messages()
    repeats = DropRepeats()
    assert stored(repeats, gpus[:3]) == ([0, 1, 2], 0, 0)
    assert stored(repeats, gpus[3:5]) == ([3, 4], 0, 0)  # before: dropped as repeats of (node, ts)
    assert stored(repeats, gpus[5:]) == ([5, 6, 7], 0, 0)


def test_a_per_gpu_message_sent_twice_is_dropped_once_stored() -> None:
    gpus = per_gpu_messages()
    repeats = DropRepeats()
    stored(repeats, gpus[:4])
    assert stored(repeats, [gpus[1], gpus[5], gpus[1]]) == ([5], 2, 2)  # two copies of GPU 1's message
    assert stored(repeats, [gpus[5], gpus[6]]) == ([6], 1, 1)


def test_a_whole_node_message_after_some_of_its_gpus_keeps_only_the_new_rows() -> None:
    gpus = per_gpu_messages()
    whole = json.loads(gpus[0])
    whole["gpus"] = [json.loads(g)["gpus"][0] for g in gpus]
    repeats = DropRepeats()
    stored(repeats, gpus[:2])
    kept, messages, rows = stored(repeats, [json.dumps(whole).encode()])
    assert kept == [2, 3, 4, 5, 6, 7] and rows == 2 and messages == 1
