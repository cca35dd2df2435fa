-- Least-privilege users for a ClickHouse server (not applied by `db migrate`; rendered by
-- `gpufleet db users` for an administrator to run). Passwords are never in this file: the
-- renderer puts in the SHA-256 of GPUFLEET_INGEST_PASSWORD / GPUFLEET_GRAFANA_PASSWORD.
--
-- gpufleet_ingest may only INSERT, and only into the tables ingest and the bridge write
-- (storage.clickhouse.INGEST_TABLES; a test compares them); it runs no DDL (`ingest` does
-- not migrate a server store unless given --migrate). On a cluster it also gets INSERT on
-- each `<table>_local`, which the Distributed table writes on the shards as this user
-- (distributed_foreground_insert, with the cluster's interserver secret). Since migration
-- 014 ingest writes the minute, hour, rack-second and latest-state rollups itself (computed
-- from each batch); the hall and fleet rollups are written by materialized views chained
-- from power_rack_1s, which run with their definer's rights (the administrator who ran `db migrate`,
-- SQL SECURITY DEFINER by default since 24.x), so the ingest user needs no grant on them.
-- gpufleet_grafana may only SELECT, under readonly = 2: the Grafana ClickHouse plugin sends
-- per-query settings, which readonly = 1 forbids, and it sets max_execution_time, which
-- must therefore be CHANGEABLE_IN_READONLY (bounded here so a panel cannot run for hours).

CREATE USER IF NOT EXISTS gpufleet_ingest {on_cluster}
    IDENTIFIED WITH sha256_hash BY '{ingest_password_sha256}'
    DEFAULT DATABASE {database};

GRANT {on_cluster} INSERT ON {database}.gpu_samples TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_events TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_inventory TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.dead_letters TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.facility_readings TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.job_assignments TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_processes TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_instance_activity TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_minute TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_hour TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.power_rack_1s TO gpufleet_ingest;
GRANT {on_cluster} INSERT ON {database}.gpu_latest_state TO gpufleet_ingest;
-- Since migration 018 the writer also computes gpu_straggler_hour once an hour is over, by an
-- INSERT ... SELECT over that hour's gpu_minute rows (storage/straggler_hours.py): the one
-- table it reads (storage.clickhouse.INGEST_READS). Without these two it logs a warning and
-- `stragglers` computes those hours from gpu_minute itself (slower, the same answer).
GRANT {on_cluster} INSERT ON {database}.gpu_straggler_hour TO gpufleet_ingest;
GRANT {on_cluster} SELECT ON {database}.gpu_minute TO gpufleet_ingest;
-- and reads the schema version once (which migrations are applied decides whether it writes
-- the rollups itself: storage.clickhouse.ClickHouseStore.streams_rollups); no data.
GRANT {on_cluster} SELECT ON {database}.gpufleet_migrations TO gpufleet_ingest;

CREATE SETTINGS PROFILE IF NOT EXISTS gpufleet_grafana_profile {on_cluster}
    SETTINGS readonly = 2,
             max_execution_time = 60 MIN 1 MAX 600 CHANGEABLE_IN_READONLY,
             max_result_rows = 1000000,
             max_memory_usage = 10000000000;

CREATE USER IF NOT EXISTS gpufleet_grafana {on_cluster}
    IDENTIFIED WITH sha256_hash BY '{grafana_password_sha256}'
    DEFAULT DATABASE {database}
    SETTINGS PROFILE 'gpufleet_grafana_profile';

GRANT {on_cluster} SELECT ON {database}.* TO gpufleet_grafana;
