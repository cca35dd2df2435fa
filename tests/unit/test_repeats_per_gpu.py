"""Per-GPU messages from a third-party producer: several messages of one `(node, ts)`, each
with some of the node's GPUs, are different rows, not repeats (`pipeline.repeats`, what the
wire allows). A row is a repeat when its `(node, ts, gpu_index)` was stored."""

from __future__ import annotations

import json
import time

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import node_samples_from_frame
from pipeline.kafka.decoder import decode_samples
from pipeline.repeats import DropRepeats


def node_tick() -> dict[str, object]:
    """One 8-GPU node message of a recent tick, as a JSON object."""
    fleet = SyntheticFleet(8, 4, load_scenario("none"), int(time.time()) * 1000, 1.0, 60)
    message: dict[str, object] = json.loads(node_samples_from_frame(fleet.tick()[0])[0].model_dump_json())
    return message


def per_gpu_messages() -> list[bytes]:
    """That tick split into 8 messages of one GPU each (same node, same ts)."""
    message = node_tick()
    return [json.dumps({**message, "gpus": [gpu]}).encode() for gpu in message["gpus"]]  # type: ignore[attr-defined]


def stored(repeats: DropRepeats, messages: list[bytes]) -> tuple[list[int], int, int]:
    """drop + remember, as ingest does for a delivery whose write succeeded: (GPUs kept, messages, rows dropped)."""
    frame, refused = decode_samples(messages)
    assert not refused
    kept, dropped = repeats.drop(frame)
    repeats.remember(dropped.kept)
    return sorted(kept.gpu_index.tolist()), dropped.messages, dropped.rows


def test_per_gpu_messages_across_deliveries_are_all_kept() -> None:
    gpus = per_gpu_messages()
    repeats = DropRepeats()
    assert stored(repeats, gpus[:3]) == ([0, 1, 2], 0, 0)
    assert stored(repeats, gpus[3:5]) == ([3, 4], 0, 0)  # the (node, ts) filter dropped these as repeats
    assert stored(repeats, gpus[5:]) == ([5, 6, 7], 0, 0)
    assert repeats.nodes == 1


def test_a_per_gpu_message_sent_twice_is_dropped_once_stored() -> None:
    gpus = per_gpu_messages()
    repeats = DropRepeats()
    stored(repeats, gpus[:4])
    assert stored(repeats, [gpus[1], gpus[5], gpus[1]]) == ([5], 2, 2)  # two copies of GPU 1's message
    assert stored(repeats, [gpus[5], gpus[6]]) == ([6], 1, 1)


def test_a_message_whose_gpus_were_all_stored_is_a_repeat() -> None:
    gpus = per_gpu_messages()
    whole = {**json.loads(gpus[0]), "gpus": [json.loads(g)["gpus"][0] for g in gpus]}
    repeats = DropRepeats()
    stored(repeats, gpus)
    assert stored(repeats, [json.dumps(whole).encode()]) == ([], 1, 8)


def test_a_partly_stored_message_keeps_only_its_new_gpus() -> None:
    """Partial overlap: the new GPUs are data the store does not have, so they are kept."""
    gpus = per_gpu_messages()
    whole = {**json.loads(gpus[0]), "gpus": [json.loads(g)["gpus"][0] for g in gpus]}
    repeats = DropRepeats()
    stored(repeats, gpus[:2])
    assert stored(repeats, [json.dumps(whole).encode()]) == ([2, 3, 4, 5, 6, 7], 1, 2)
    assert stored(repeats, [gpus[7], gpus[0]]) == ([], 1, 2)  # and those are remembered too


def test_gpu_indexes_beyond_the_mask_are_kept_never_dropped_wrongly() -> None:
    """GPU indexes 64-255 have no bit: a repeat of one is stored again (the documented bound),
    and it never makes a GPU below 64 look stored."""
    message = node_tick()
    gpu = message["gpus"][0]  # type: ignore[index]
    high = json.dumps({**message, "gpus": [{**gpu, "gpu_index": 64 + 3}]}).encode()
    low = json.dumps({**message, "gpus": [{**gpu, "gpu_index": 3}]}).encode()
    repeats = DropRepeats()
    assert stored(repeats, [high, high]) == ([67], 1, 1)  # a copy in the same delivery is still caught
    assert stored(repeats, [high]) == ([67], 0, 0)
    assert stored(repeats, [low]) == ([3], 0, 0)
    assert stored(repeats, [low]) == ([], 1, 1)
