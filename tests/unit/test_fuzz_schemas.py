"""The fuzz generator's unknown schema ids come from the contract and are refused."""

from __future__ import annotations

import json
import time

from gpufleet.contract.schema import NODE_SAMPLE_SCHEMA
from pipeline.kafka.decoder import decode_samples
from tests.support.fuzz import base_message, unknown_schemas


def test_every_unknown_schema_id_is_refused_with_a_reason_and_the_current_one_accepted() -> None:
    message = base_message(int(time.time() * 1000))
    schemas = unknown_schemas()
    assert NODE_SAMPLE_SCHEMA not in schemas and len(schemas) >= 2
    frame, refused = decode_samples([json.dumps({**message, "schema": s}).encode() for s in schemas])
    assert len(frame) == 0 and len(refused) == len(schemas) and all(r.reason for r in refused)
    frame, refused = decode_samples([json.dumps({**message, "schema": NODE_SAMPLE_SCHEMA}).encode()])
    assert len(frame) == 2 and refused == []
