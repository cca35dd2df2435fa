"""Cluster DDL and server users, rendered and parsed by the engine; `gpufleet sql` and
`gpufleet db` as a user runs them (fresh processes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpufleet.contract.errors import ConfigError
from storage.access import render_users
from storage.clickhouse import INGEST_READS, INGEST_REFRESHED, INGEST_TABLES, ClickHouseStore
from storage.cluster import render
from storage.migrations import available
from tests.support.cli import run_cli

PASSWORDS = {"GPUFLEET_INGEST_PASSWORD": "ingest-secret", "GPUFLEET_GRAFANA_PASSWORD": "grafana-secret"}


def parses(store: ClickHouseStore, statement: str) -> bool:
    return bool(store.query("EXPLAIN AST " + statement).rows)


def test_cluster_ddl_is_replicated_distributed_by_node_and_parses(store: ClickHouseStore) -> None:
    rendered = render(available(), "gpu_fleet")
    statements = [s for _, group in rendered for s in group]
    assert all(parses(store, s) for s in statements)
    assert all("ON CLUSTER 'gpu_fleet'" in s for s in statements)
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    engines = [re.search(r"ENGINE = (\w+)", s)[1] for s in creates]  # type: ignore[index]
    assert set(engines) <= {
        "ReplicatedMergeTree",
        "ReplicatedReplacingMergeTree",
        "ReplicatedAggregatingMergeTree",
        "Distributed",
    }
    samples = next(s for s in creates if s.startswith("CREATE TABLE IF NOT EXISTS gpu_samples ON"))
    assert "Distributed('gpu_fleet', currentDatabase(), gpu_samples_local, cityHash64(node))" in samples
    assert "'/clickhouse/tables/{shard}/{database}/gpu_minute_local', '{replica}'" in " ".join(creates)
    catalog = [s for s in creates if "xid_catalog" in s]
    assert len(catalog) == 1 and "/clickhouse/tables/all/" in catalog[0]  # on every server, not sharded
    views = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    raw_views = [v for v in views if "gpu_samples" in v]  # 011 re-creates gpu_minute_mv, 012 it and gpu_latest_state_mv
    assert len(raw_views) == 9 and all("FROM gpu_samples_local" in v and "_local AS" in v for v in raw_views)
    assert all(not re.search(r"FROM gpu_samples\b(?!_local)", v) for v in views)
    chained = [v for v in views if "TO gpu_hour_local" in v or "TO power_fleet_1s_local" in v]
    assert any("FROM gpu_minute_local" in v for v in chained) and any("FROM power_hall_1s_local" in v for v in chained)
    assert "DROP VIEW IF EXISTS gpu_hour_mv ON CLUSTER 'gpu_fleet'" in statements
    minute_alters = [s for s in statements if s.startswith("ALTER TABLE gpu_minute") and "ADD COLUMN" in s]
    # 011 and 012 each: the local table, then its Distributed table (without codecs)
    assert len(minute_alters) == 4 and "CODEC" not in minute_alters[1] and "CODEC" not in minute_alters[3]
    # 015's projection (and the setting it needs) and 018's on facility_readings belong to the local tables only
    shapes = [s for s in statements if "PROJECTION" in s or "deduplicate_merge_projection_mode" in s]
    on_local = tuple(f"ALTER TABLE {t}_local ON CLUSTER 'gpu_fleet'" for t in ("gpu_minute", "facility_readings"))
    assert len(shapes) == 5 and all(s.startswith(on_local) for s in shapes)
    assert not any(s.startswith("INSERT") for s in statements)  # no backfill on a new cluster


def test_server_users_are_least_privilege_and_parse(store: ClickHouseStore) -> None:
    for cluster in (None, "gpu_fleet"):
        statements = render_users("telemetry", cluster, PASSWORDS)
        assert all(parses(store, s) for s in statements)
    text = "\n".join(statements)
    ingest = [s for s in statements if s.startswith("GRANT") and "gpufleet_ingest" in s and "gpufleet_migrations" not in s]
    inserts = {s.split(" INSERT ON telemetry.")[1].split()[0] for s in ingest if " INSERT ON " in s}
    selects = {s.split(" SELECT ON telemetry.")[1].split()[0] for s in ingest if " SELECT ON " in s}
    written = (*INGEST_TABLES, *INGEST_REFRESHED)
    assert inserts == {*written, *(f"{t}_local" for t in written)}  # t and t_local
    assert selects == {*INGEST_READS, *(f"{t}_local" for t in INGEST_READS)}
    assert len(ingest) == 2 * (len(written) + len(INGEST_READS))
    assert "GRANT ON CLUSTER 'gpu_fleet' SELECT ON telemetry.gpufleet_migrations TO gpufleet_ingest" in statements
    assert "GRANT ON CLUSTER 'gpu_fleet' SELECT ON telemetry.* TO gpufleet_grafana" in statements
    assert "readonly = 2" in text and "max_execution_time = 60 MIN 1 MAX 600 CHANGEABLE_IN_READONLY" in text
    assert "ingest-secret" not in text and "grafana-secret" not in text
    with pytest.raises(ConfigError, match="GPUFLEET_INGEST_PASSWORD"):
        render_users("telemetry", None, {})


def test_db_cli_cluster_print_and_users(tmp_path: Path) -> None:
    printed = run_cli("db", "migrate", "--cluster", "gpu_fleet", "--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.count("ON CLUSTER 'gpu_fleet'") >= 30
    refused = run_cli("db", "migrate", "--cluster", "gpu_fleet", "--store", f"chdb://{tmp_path / 'x'}")
    assert refused.returncode == 2 and "server" in refused.stderr
    users = run_cli("db", "users", "--database", "telemetry", env=PASSWORDS)
    assert users.returncode == 0 and "CREATE USER IF NOT EXISTS gpufleet_grafana" in users.stdout


def test_sql_is_read_only_unless_write(tmp_path: Path) -> None:
    store = ["--store", f"chdb://{tmp_path / 'fleet'}"]
    assert run_cli("db", "migrate", *store).returncode == 0
    insert = "INSERT INTO dead_letters (source, reason, payload) VALUES ('cli', 'test', 'x')"
    refused = run_cli("sql", *store, insert)
    assert refused.returncode == 1 and "read-only" in refused.stderr and "--write" in refused.stderr
    dropped = run_cli("sql", *store, "DROP TABLE gpu_samples")
    assert dropped.returncode == 1 and "read-only" in dropped.stderr
    sneaky = run_cli("sql", *store, insert + " SETTINGS readonly = 0")
    assert sneaky.returncode == 1 and "Traceback" not in sneaky.stderr
    assert run_cli("sql", *store, "--write", insert).returncode == 0
    count = run_cli("sql", *store, "--format", "json", "SELECT count() AS n FROM dead_letters")
    assert json.loads(count.stdout) == [{"n": 1}]
    tables = run_cli("sql", *store, "--format", "json", "SELECT count() AS n FROM system.tables WHERE name = 'gpu_samples'")
    assert json.loads(tables.stdout) == [{"n": 1}]  # the DROP was refused

    broken = run_cli("sql", *store, "SELEC nonsense")
    assert broken.returncode == 1 and "Syntax error" in broken.stderr and len(broken.stderr.strip().splitlines()) == 1

    swing = run_cli(
        "sql", *store, "--query", "power_swing", "--param", "span_s=30", "--param", "from_ms=now-2h", "--format", "json"
    )
    assert swing.returncode == 0, swing.stderr
    assert set(json.loads(swing.stdout)[0]) >= {"max_rise_megawatts_per_s", "max_fall_megawatts_per_s", "largest_drop_megawatts"}
    typo = run_cli("sql", *store, "--query", "power_swing", "--param", "spans=30")
    assert typo.returncode == 2 and "span_s" in typo.stderr


def test_sql_list_describes_every_named_query() -> None:
    listing = run_cli("sql", "--list")
    assert listing.returncode == 0
    for name in ("fleet_power", "fleet_power_series", "energy", "hottest_gpus", "throttled_gpus", "stragglers",
                 "power_swing", "node_health", "xid_summary"):  # fmt: skip
        assert f"\n{name}(" in "\n" + listing.stdout, name
    assert "span_s:UInt32=60" in listing.stdout
