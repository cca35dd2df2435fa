"""Publishes a recorded `gpufleet emit` run at its sample times (bench_kafka_ingest.py's
freshness with `--freshness-producer paced`).

    python benchmarks/paced_producer.py BOOTSTRAP FILE

FILE is a pickle of `[(send_at_ms, [_Message, ...]), ...]`, one entry per tick, made by
`bench_kafka_ingest.record_emit`: the messages `emit` would publish, already encoded. This
process hands each tick's messages to gpufleet's own `KafkaTransport` at its sample time, so
the broker sees what `emit` sends (same bytes, producer settings, chunks and sender thread)
while the sampling and JSON encoding, which a fleet does on its 2,500 GPU nodes and not on the
ingest's machine, were done before the clock started. Prints a JSON summary: messages,
late ticks, CPU seconds.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka.producer import KafkaTransport


def main() -> None:
    bootstrap, path = sys.argv[1], Path(sys.argv[2])
    ticks = pickle.loads(path.read_bytes())
    transport = KafkaTransport(KafkaSettings(), bootstrap)  # topic names are fixed; partitions come from the broker
    late = sent = 0
    cpu = time.process_time()
    for send_at_ms, messages in ticks:
        delay = send_at_ms / 1000 - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        transport._enqueue(messages)  # already encoded: what publish_* would enqueue
        sent += len(messages)
    transport.flush(30.0)
    transport.close()
    summary = {"messages": sent, "late_ticks": late, "cpu_s": round(time.process_time() - cpu, 3)}
    print(json.dumps(summary | {"dropped_messages": transport.stats.dropped_messages}))


if __name__ == "__main__":
    main()
