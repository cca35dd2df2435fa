-- Schema v5: the writer computes the rollups that read raw rows (docs/storage.md "Rollup chain").
-- The three materialized views on gpu_samples ran over every insert block, one row per GPU
-- per tick, and cost about 80 % of the insert (docs/benchmarks.md). gpufleet's writer
-- holds each batch as numpy columns and computes the same partial aggregates from it
-- (storage/rollups.py): per GPU and minute into gpu_minute, per rack and second into
-- power_rack_1s, the newest sample per GPU into gpu_latest_state, each inserted after the
-- raw rows with a token derived from the batch's. gpu_hour is merged from the writer's
-- minute rows too (storage/rollups_hour.py): gpu_hour_mv, chained from gpu_minute, would
-- now be the dearest part of an insert (its sumMap histograms). The tables, their columns
-- and what they mean are unchanged; power_hall_1s_mv and power_fleet_1s_mv stay, reading
-- the writer's power_rack_1s blocks.
--
-- Stop ingest while migrating, as for 011: an ingest started before this migration still
-- leaves the rollups to the views it expects, so rows it writes after the drop reach
-- gpu_samples only. Restart it once migrate is done.
-- Rows inserted into gpu_samples by anything other than gpufleet's writer (a third-party
-- loader, an INSERT ... SELECT by hand) no longer reach the rollups from here on.
-- Nothing is backfilled or dropped: the rollup tables keep every row they hold.
-- On a cluster the rollups are inserted through their Distributed tables; power_rack_1s is
-- re-sharded by rack (storage/cluster.py), so that a retried block meets its first copy on
-- the shard that deduplicates it.

DROP VIEW IF EXISTS gpu_minute_mv;
DROP VIEW IF EXISTS gpu_hour_mv;
DROP VIEW IF EXISTS power_rack_1s_mv;
DROP VIEW IF EXISTS gpu_latest_state_mv;
