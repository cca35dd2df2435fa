"""Cluster DDL for the rollups the writer inserts (migration 014): every Distributed table it
writes is sharded by a function of the row, so a retried block reaches the shard that holds
its first copy and is deduplicated there; a random key would store the retry twice."""

from __future__ import annotations

import re

import pytest

from storage.clickhouse import INGEST_TABLES, STREAM_ROLLUPS
from storage.cluster import ClusterDdl, render
from storage.migrations import available


def distributed_keys() -> dict[str, str]:
    """The last sharding key each Distributed table gets across all migrations, rendered for a cluster."""
    keys: dict[str, str] = {}
    pattern = re.compile(
        r"^CREATE (?:OR REPLACE TABLE|TABLE IF NOT EXISTS) (\w+) ON CLUSTER .*"
        r"Distributed\('fleet', currentDatabase\(\), \w+, (.+)\)$"
    )
    for _, statements in render(available(), "fleet"):
        for statement in statements:
            if match := pattern.match(statement):
                keys[match[1]] = match[2]
    return keys


def test_the_samples_and_every_rollup_the_writer_inserts_are_sharded_by_their_rows() -> None:
    keys = distributed_keys()
    assert set(STREAM_ROLLUPS) <= set(INGEST_TABLES)
    for table in ("gpu_samples", *STREAM_ROLLUPS):
        assert keys[table] != "rand()", table
    assert keys["power_rack_1s"] == "cityHash64(rack)"
    assert keys["gpu_minute"] == keys["gpu_hour"] == keys["gpu_latest_state"] == "cityHash64(node)"
    # the writer's INSERT ... SELECT of each closed hour (018) lands a GPU's rows on one shard, where FINAL replaces them
    assert keys["gpu_straggler_hour"] == "cityHash64(node)"


def test_migration_014_reshards_the_rack_rollup_and_drops_the_raw_views() -> None:
    [(migration, statements)] = [(m, s) for m, s in render(available(), "fleet") if m.version == 14]
    assert migration.name == "stream_rollups"
    drops = sorted(s.split()[4] for s in statements if s.startswith("DROP VIEW"))
    assert drops == ["gpu_hour_mv", "gpu_latest_state_mv", "gpu_minute_mv", "power_rack_1s_mv"]
    [reshard] = [s for s in statements if s.startswith("CREATE OR REPLACE TABLE")]
    assert reshard.startswith("CREATE OR REPLACE TABLE power_rack_1s ON CLUSTER 'fleet' AS power_rack_1s_local")
    assert reshard.endswith("Distributed('fleet', currentDatabase(), power_rack_1s_local, cityHash64(rack))")


def test_no_distributed_table_is_sharded_at_random() -> None:
    """A random key sends a retried block to another shard than its first copy: stored twice."""
    keys = distributed_keys()
    assert {"gpu_samples", "facility_readings", "dead_letters"} <= set(keys)
    assert [table for table, key in keys.items() if "rand()" in key] == []
    assert keys["facility_readings"] == "cityHash64(site, hall, rack)"
    assert keys["dead_letters"] == "cityHash64(source, payload)"


def test_migration_019_reshards_facility_readings_and_dead_letters_and_changes_nothing_on_one_server() -> None:
    [migration] = [m for m in available() if m.version == 19]
    assert migration.statements({}) == []
    [(_, statements)] = [(m, s) for m, s in render(available(), "fleet") if m.version == 19]
    resharded = sorted(s.split()[4] for s in statements)
    assert resharded == ["dead_letters", "facility_minute", "facility_readings", "power_fleet_1s", "power_hall_1s"]
    assert all(s.startswith("CREATE OR REPLACE TABLE") and " AS " in s for s in statements)


def test_a_table_without_a_sharding_key_is_refused_by_name() -> None:
    ddl = ClusterDdl("fleet", frozenset({"events_x"}))
    statement = "CREATE TABLE IF NOT EXISTS events_x (ts DateTime) ENGINE = MergeTree ORDER BY ts"
    with pytest.raises(ValueError, match="events_x"):
        ddl.render(statement)
