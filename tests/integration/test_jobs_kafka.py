"""Job messages through a real Kafka broker: `gpufleet jobs forward --kafka` publishes the
spool to gpufleet.jobs.v1, ingest stores them as intervals, a bad job message is
dead-lettered with its reason while the rest lands."""

from __future__ import annotations

import time
from pathlib import Path

from collectors.jobs.spool import Spool
from gpufleet.contract.jobs import JobAssignment, JobGpu
from pipeline.ingest import Ingest
from pipeline.kafka import topics
from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
from storage.clickhouse import ClickHouseStore
from tests.support.cli import run_cli
from tests.support.kafka_helpers import KafkaCluster, cli_env, kafka_settings, produce, read_topic


def test_forwarded_jobs_land_as_intervals_and_bad_ones_are_dead_lettered(
    kafka1: KafkaCluster, store: ClickHouseStore, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    now = int(time.time() * 1000)
    base = {"source": "slurm", "cluster": "colossus", "node": "node-00002", "job_id": "31337"}
    spool.put(JobAssignment(ts_ms=now - 60_000, phase="start", gpus=[JobGpu(gpu_index=i) for i in (0, 1)], **base))  # type: ignore[arg-type]
    spool.put(JobAssignment(ts_ms=now, phase="end", state="COMPLETED", **base))  # type: ignore[arg-type]
    created = run_cli("kafka", "topics", "--create", "--kafka", kafka1.bootstrap, env=cli_env(kafka1))
    assert created.returncode == 0, created.stderr
    done = run_cli("jobs", "forward", "--spool", str(spool.folder), "--once", "--kafka", kafka1.bootstrap, env=cli_env(kafka1))
    assert done.returncode == 0, done.stderr
    assert not list(spool.folder.glob("*.json"))  # published and flushed, then removed
    produce(
        kafka1.bootstrap, topics.JOBS, [(b"colossus/node-00002", b'{"schema": "gpufleet.job_assignment/1", "phase": "start"}')]
    )

    sub = KafkaSubscription(kafka_settings(), kafka1.bootstrap, SubscriptionConfig(group="jobs", max_wait_s=0.2))
    ingest = Ingest(sub, store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ingest.stats.messages < 3:
        ingest.step(0.5)
    sub.close()
    rows = store.query(
        "SELECT gpu_index, toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts), state"
        " FROM gpu_job_intervals WHERE job_id = '31337' ORDER BY gpu_index"
    ).rows
    assert rows == [(0, now - 60_000, now, "COMPLETED"), (1, now - 60_000, now, "COMPLETED")]
    (letter,) = [
        r
        for r in read_topic(kafka1.bootstrap, topics.DEADLETTER)
        if dict(r.headers)["gpufleet.source_topic"] == topics.JOBS.encode()
    ]
    assert b"invalid" in dict(letter.headers)["gpufleet.reason"]
    assert ingest.stats.jobs == 2
