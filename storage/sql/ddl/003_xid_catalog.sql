-- Schema v2: the XID catalog as reference data, so that queries and dashboards can join
-- meaning, severity and recommended action onto XID events. The rows come from
-- gpufleet/data/xid_catalog.csv: `gpufleet db migrate` loads them after the DDL, every time,
-- with a deduplication token derived from the file's content, so an unchanged file is a
-- no-op and an edited one replaces its rows (ReplacingMergeTree by `version`, read FINAL).
-- In cluster mode it is replicated to every node, not sharded (storage/cluster.py).

CREATE TABLE IF NOT EXISTS xid_catalog
(
    xid UInt16,
    mnemonic LowCardinality(String),
    meaning String,
    action String,
    severity LowCardinality(String),
    fatal Bool,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY xid
SETTINGS non_replicated_deduplication_window = 1000;
