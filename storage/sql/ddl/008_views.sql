-- Schema v2: views for the questions people ask (docs/storage.md "Views").
-- xid_events: every XID event with its catalog entry (meaning, severity, action, fatal);
--   codes missing from the catalog show as UNKNOWN_XID rather than disappearing.
-- node_health: one row per node known from inventory or samples: reporting or stale
--   (no sample for 30 s) or missing (in inventory, never reported), GPUs expected versus
--   reporting, and active faults: GPUs whose latest sample shows thermal throttling, power
--   brake, a pending or failed row remap, plus fatal XIDs in the last hour.

CREATE VIEW IF NOT EXISTS xid_events AS
SELECT
    e.ts AS ts, e.cluster AS cluster, e.hall AS hall, e.row AS row, e.rack AS rack, e.node AS node,
    e.gpu_index AS gpu_index, e.uuid AS uuid, e.xid AS xid,
    if(c.xid = 0, 'UNKNOWN_XID', c.mnemonic) AS mnemonic,
    if(c.xid = 0, 'Not in gpufleet''s XID catalog', c.meaning) AS meaning,
    if(c.xid = 0, 'CHECK_NVIDIA_DOCS', c.action) AS action,
    if(c.xid = 0, e.severity, c.severity) AS severity,
    c.fatal AS fatal,
    e.detail AS detail
FROM gpu_events AS e
LEFT JOIN (SELECT xid, mnemonic, meaning, action, severity, fatal FROM xid_catalog FINAL) AS c ON e.xid = c.xid
WHERE e.kind = 'xid'
SETTINGS join_use_nulls = 0;

CREATE VIEW IF NOT EXISTS node_health AS
SELECT
    cluster, node,
    if(s.hall != '', s.hall, i.hall) AS hall,
    if(s.rack != '', s.rack, i.rack) AS rack,
    s.last_seen AS last_seen,
    multiIf(s.gpus_seen = 0, 'missing', s.age_s > 30, 'stale', 'reporting') AS status,
    s.age_s AS age_s,
    i.gpus_expected AS gpus_expected,
    s.gpus_fresh AS gpus_reporting,
    toInt64(greatest(i.gpus_expected, s.gpus_seen)) - toInt64(s.gpus_fresh) AS gpus_missing,
    s.gpus_thermal AS gpus_thermal_throttled,
    s.gpus_power_brake AS gpus_power_brake,
    s.gpus_remap AS gpus_remap_pending_or_failed,
    x.fatal_xids AS fatal_xids_1h,
    s.gpus_thermal + s.gpus_power_brake + s.gpus_remap + x.fatal_xids AS active_faults
FROM
(
    SELECT
        cluster, node, any(hall) AS hall, any(rack) AS rack,
        max(ts) AS last_seen,
        dateDiff('millisecond', max(ts), now64(3)) / 1000 AS age_s,
        count() AS gpus_seen,
        countIf(ts >= now64(3) - toIntervalSecond(30)) AS gpus_fresh,
        countIf(bitAnd(ifNull(clocks_event_reasons, 0), 0x60) != 0) AS gpus_thermal,
        countIf(bitAnd(ifNull(clocks_event_reasons, 0), 0x80) != 0) AS gpus_power_brake,
        countIf(ifNull(remap_pending, false) OR ifNull(remap_failure, false)) AS gpus_remap
    FROM gpu_latest_state FINAL
    GROUP BY cluster, node
) AS s
FULL OUTER JOIN
(
    SELECT cluster, node, any(hall) AS hall, any(rack) AS rack, uniqExact(uuid) AS gpus_expected
    FROM gpu_inventory FINAL
    GROUP BY cluster, node
) AS i USING (cluster, node)
LEFT JOIN
(
    SELECT cluster, node, count() AS fatal_xids
    FROM xid_events
    WHERE fatal AND ts >= now64(3) - toIntervalHour(1)
    GROUP BY cluster, node
) AS x USING (cluster, node)
SETTINGS join_use_nulls = 0;
