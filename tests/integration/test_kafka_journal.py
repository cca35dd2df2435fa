"""The committed-offset journal on Apache Kafka: a batch cut by time, a crash between its insert
and its commit, and the restarted process re-forming exactly that range with the same token.

Batches here are never full (`--max-batch-messages` far above what arrives), so where one
ends depends on timing alone (`--max-wait`). Before a batch is delivered its end is recorded
as the committed offset of the `<group>.ranges` group; after the crash that record is all
that says where the stored rows end. The restarted process reads it (`_read_journal`),
fetches up to that end, and inserts under the same token, which the store drops as a
duplicate: every row is stored once.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from pipeline.kafka import topics
from tests.integration.test_kafka_pipeline import emit_summary, stored_keys
from tests.support.kafka_helpers import KafkaCluster, cli_env, committed, gpufleet


def _last_stats(stderr: str) -> dict[str, int]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{") and '"ranges_repeated"' in line]
    assert lines, stderr[-2000:]
    last: dict[str, int] = lines[-1]
    return last


def test_crash_between_insert_and_commit_reforms_the_time_cut_range_with_its_token(kafka1: KafkaCluster, tmp_path: Path) -> None:
    env = cli_env(kafka1)
    data = f"chdb://{tmp_path / 'data'}"
    args = ("ingest", "--store", data, "--group", "journal", "--max-batch-messages", "100000", "--max-wait", "0.7")
    # dies after its 2nd delivery was written, before that delivery's offsets are committed
    crashing = gpufleet(*args, "--stats-interval", "0", env={**env, "GPUFLEET_FAILPOINT": "kill_before_commit:2"}, cwd=tmp_path)
    emit = gpufleet(
        "emit", "--gpus", "64", "--interval", "0.1", "--duration", "4", "--stats-interval", "0", env=env, cwd=tmp_path
    )
    assert emit.wait(60) == 0, emit.stderr()
    rows = emit_summary(emit)["sent_rows"]
    assert rows == 64 * 40
    assert crashing.wait(90) == -signal.SIGKILL, crashing.stderr()[-2000:]
    stored_before = stored_keys(tmp_path / "data")
    assert 0 < len(stored_before) < rows and len(set(stored_before)) == len(stored_before)
    consumed = committed(kafka1.bootstrap, "journal", topics.SAMPLES, 4)
    recorded = committed(kafka1.bootstrap, "journal.ranges", topics.SAMPLES, 4)
    ahead = [p for p in range(4) if recorded[p] is not None and (consumed[p] or 0) < recorded[p]]  # type: ignore[operator]
    assert ahead, (consumed, recorded)  # the written, uncommitted range is in the journal only

    restarted = gpufleet(*args, "--exit-when-idle", "5", "--stats-interval", "1", env=env, cwd=tmp_path)
    assert restarted.wait(120) == 0, restarted.stderr()[-2000:]
    stats = _last_stats(restarted.stderr())
    assert stats["ranges_repeated"] >= len(ahead), stats
    keys = stored_keys(tmp_path / "data")
    assert len(set(keys)) == rows, "rows lost"
    assert len(keys) == rows, "the re-formed range was stored twice"
