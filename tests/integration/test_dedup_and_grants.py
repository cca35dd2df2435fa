"""Exactly-once settings pinned on every insert, a view failing part-way, cluster dedup windows,
and least privilege: the ingest user's grants are exactly the tables ingest writes."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.jobs import JobAssignment, JobGpu
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuProcess, GpuProcesses
from pipeline.ingest import Ingest
from pipeline.memory import MemoryBroker
from storage.access import render_users
from storage.clickhouse import DEDUP_SETTINGS, INGEST_READS, INGEST_REFRESHED, INGEST_TABLES, ClickHouseStore, connect
from storage.cluster import REPLICATED_DEDUP_WINDOW_S, render
from storage.migrations import available
from tests.support.retry_ingest import FAST, ingest_fixed_after_two_retries

PASSWORDS = {"GPUFLEET_INGEST_PASSWORD": "i", "GPUFLEET_GRAFANA_PASSWORD": "g"}


def fleet_tick(gpus: int, seed: int, ago_s: int = 10) -> tuple[SyntheticFleet, GpuFrame]:
    fleet = SyntheticFleet(gpus, seed, load_scenario("none"), (int(time.time()) - ago_s) * 1000, 1.0, 60)
    return fleet, fleet.tick()[0]


def count(store: ClickHouseStore, sql: str) -> int:
    return int(store.query(sql).rows[0][0])


def each_row_once(store: ClickHouseStore, rows: int) -> None:
    assert count(store, "SELECT count() FROM gpu_samples") == rows
    for sql in (
        "SELECT sum(samples) FROM gpu_minute",
        "SELECT sum(samples) FROM gpu_hour",
        "SELECT sum(gpus) FROM power_rack_1s",
        "SELECT sum(gpus) FROM power_hall_1s",
        "SELECT sum(gpus) FROM power_fleet_1s",
        "SELECT count() FROM fragile_t",
    ):
        assert count(store, sql) == rows, sql
    assert count(store, "SELECT count() FROM gpu_latest_state FINAL") == rows


def test_a_view_failing_part_way_then_fixed_leaves_raw_and_every_rollup_exact(store: ClickHouseStore) -> None:
    """A view refuses the insert (the real engine's throwIf, while a flag is set): the engine
    may already have written the raw part and other views' parts. Ingest backs off (a view
    refusing rows is the schema's fault, so nothing is split or dead-lettered), the flag is
    cleared, the retry with the same token lands, and a third insert with that token (a
    crash before the commit) changes nothing: raw and every rollup hold each row once.
    With deduplicate_blocks_in_dependent_materialized_views = 0 the repeat counts the
    rollups twice (seen on chDB 26.9 with the setting forced to 0)."""
    store.command("CREATE TABLE flag (on UInt8) ENGINE = Memory")
    store.command("INSERT INTO flag VALUES (1)")
    store.command(
        "CREATE TABLE fragile_t (node LowCardinality(String)) ENGINE = MergeTree ORDER BY node"
        " SETTINGS non_replicated_deduplication_window = 100"
    )
    store.command(
        "CREATE MATERIALIZED VIEW fragile TO fragile_t AS SELECT node FROM gpu_samples"
        " WHERE throwIf(power_mw = 123456 AND (SELECT count() FROM flag) > 0, 'view refuses the marker') = 0"
    )
    _, frame = fleet_tick(400, 3)
    frame.metrics["power_mw"] = frame.metrics["power_mw"].copy()
    frame.metrics["power_mw"][37] = 123456

    # the operator fixes the view
    _, delivery = ingest_fixed_after_two_retries(store, frame, lambda: store.command("TRUNCATE TABLE flag"))
    each_row_once(store, 400)
    store.insert_samples(delivery.samples, f"{delivery.token}:samples")  # delivered again after a crash
    each_row_once(store, 400)


def test_cluster_tables_pin_the_replicated_dedup_window() -> None:
    creates = [s for _, group in render(available(), "fleet") for s in group if s.startswith("CREATE TABLE")]
    replicated = [s for s in creates if "ENGINE = Replicated" in s]
    assert replicated and not any("non_replicated_deduplication_window" in s for s in creates)
    with_window = [s for s in replicated if "replicated_deduplication_window" in s]
    assert len(with_window) == len(replicated)
    for statement in with_window:
        blocks = re.search(r"replicated_deduplication_window = (\d+)", statement)
        assert blocks and int(blocks[1]) >= 1000
        assert f"replicated_deduplication_window_seconds = {REPLICATED_DEDUP_WINDOW_S}" in statement


class Recording:
    """A real clickhouse-connect client that notes which table each insert went to, with which settings."""

    def __init__(self, client: Any, inserts: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        self.client = client
        self.inserts: list[tuple[str, dict[str, Any]]] = [] if inserts is None else inserts

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self.inserts.append((table, kwargs.get("settings") or {}))
        return self.client.insert(table, *args, **kwargs)

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self.inserts.append((table, kwargs.get("settings") or {}))
        return self.client.raw_insert(table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_every_insert_pins_dedup_and_the_ingest_grants_are_exactly_its_tables(store: ClickHouseStore) -> None:
    """One delivery of every kind through ingest (samples, events, inventory, facility, jobs,
    processes, MIG instance activity, a dead letter): every insert carries a token and the dedup
    settings; the tables written are the ones `users.sql` grants the ingest user INSERT on, no
    more, no fewer."""
    recording = Recording(store.client)
    # the rollup inserts run on connections of their own: those are recorded too
    spied = ClickHouseStore(recording, store.dsn, writers=lambda: Recording(connect(store.dsn), recording.inserts))  # type: ignore[arg-type]
    fleet, frame = fleet_tick(16, 5)
    now = int(time.time() * 1000)
    broker = MemoryBroker()
    broker.publish_samples(frame)
    late = fleet.tick()[0]
    late.ts_ms = np.full(len(late), now + 86_400_000, dtype=np.int64)  # a day ahead: dead-lettered
    broker.publish_samples(late)
    broker.publish_events([GpuEvent(cluster="c", hall="h", row="r", rack="k", node="n", ts_ms=now, kind="collector_start")])
    broker.publish_inventory(fleet.inventory(now))
    broker.publish_facility([FacilitySample(ts_ms=now, site="s", hall="h", rack="k", sensor="pdu_power_w", value=1000.0)])
    broker.publish_jobs(
        [JobAssignment(ts_ms=now, phase="start", source="slurm", cluster="c", node="n", job_id="7", gpus=[JobGpu(gpu_index=0)])]
    )
    process = GpuProcess(gpu_index=0, uuid="GPU-0", pid=4711, used_mem_mib=1024)
    broker.publish_processes(
        [GpuProcesses(cluster="c", hall="h", row="r", rack="k", node="n", ts_ms=now, gpus=[0], processes=[process])]
    )
    instance = {"gpu_index": 0, "uuid": "GPU-0", "gpu_instance_id": 1, "sm_active_pct": 40}
    broker.publish_instance_activity(
        [
            GpuInstanceActivity.model_validate(
                {"cluster": "c", "hall": "h", "row": "r", "rack": "k", "node": "n", "ts_ms": now, "instances": [instance]}
            )
        ]
    )
    stats = Ingest(broker, spied, FAST).run(until_idle_s=0.3)
    assert stats.rows == 16 and stats.dead_letters == 2 and stats.events == 1 and stats.facility == 1
    assert stats.jobs == 1 and stats.processes == 1 and stats.instance_activity == 1
    written = {table for table, _ in recording.inserts}
    assert written == set(INGEST_TABLES)
    for table, settings in recording.inserts:
        assert settings.get("insert_deduplication_token"), table
        assert {k: settings.get(k) for k in DEDUP_SETTINGS} == DEDUP_SETTINGS, table
    grants = [s for s in render_users("telemetry", None, PASSWORDS) if s.startswith("GRANT") and "gpufleet_ingest" in s]
    inserts = [s for s in grants if " INSERT ON " in s]
    granted = {re.fullmatch(r"GRANT +INSERT ON telemetry\.(\w+) TO gpufleet_ingest", s)[1] for s in inserts}  # type: ignore[index]
    # and the writer's INSERT ... SELECT of gpu_straggler_hour (018), not a recorded insert
    assert granted == written | set(INGEST_REFRESHED) and len(inserts) == len(granted)
    # beside INSERT, only the schema version (whether the writer feeds the rollups: migration 014)
    reads = [f"GRANT SELECT ON telemetry.{t} TO gpufleet_ingest" for t in INGEST_READS]
    assert [s for s in grants if s not in inserts] == [*reads, "GRANT SELECT ON telemetry.gpufleet_migrations TO gpufleet_ingest"]
