-- Facility readings bridged from MQTT (CDU coolant, rack PDU power, room conditions): one
-- row per reading, a per-minute rollup, and a per-rack view beside the GPUs' own numbers,
-- so "rack-0412 is throttling" can be read as "rack-0412's CDU supply is 6 °C high".
-- Labels match the GPU tables' hall and rack; `site` is the MQTT topic's site.

CREATE TABLE IF NOT EXISTS facility_readings
(
    ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    site LowCardinality(String),
    hall LowCardinality(String),
    rack LowCardinality(String),
    sensor LowCardinality(String),
    value Float64 CODEC(Gorilla, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (site, hall, rack, sensor, ts)
TTL toDateTime(ts) + INTERVAL {raw_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS facility_minute
(
    minute DateTime('UTC') CODEC(Delta, ZSTD(1)),
    site LowCardinality(String),
    hall LowCardinality(String),
    rack LowCardinality(String),
    sensor LowCardinality(String),
    value_sum SimpleAggregateFunction(sum, Float64),
    value_count SimpleAggregateFunction(sum, UInt64),
    value_min SimpleAggregateFunction(min, Float64),
    value_max SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (site, hall, rack, sensor, minute)
TTL minute + INTERVAL {minute_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS facility_minute_mv TO facility_minute AS
SELECT toStartOfMinute(ts) AS minute, site, hall, rack, sensor,
       sum(value) AS value_sum, count() AS value_count, min(value) AS value_min, max(value) AS value_max
FROM facility_readings
GROUP BY minute, site, hall, rack, sensor;

-- Per rack and minute: the CDU, PDU and room next to what the rack's GPUs report
-- (power from power_rack_1s, peak temperature from gpu_minute). A site's MQTT `site` is
-- its GPU `cluster` label: that, hall and rack join the two.
CREATE VIEW IF NOT EXISTS rack_facility_minute AS
SELECT
    f.minute AS minute, f.site AS site, f.hall AS hall, f.rack AS rack,
    f.supply_c, f.return_c, f.return_c - f.supply_c AS delta_t_c, f.flow_lpm, f.pdu_w, f.room_inlet_c, f.humidity_pct,
    g.gpu_power_w, g.gpus_reporting, t.peak_gpu_temp_c
FROM
(
    SELECT minute, site, hall, rack,
        sumIf(value_sum, sensor = 'cdu_supply_temp_c') / nullIf(sumIf(value_count, sensor = 'cdu_supply_temp_c'), 0) AS supply_c,
        sumIf(value_sum, sensor = 'cdu_return_temp_c') / nullIf(sumIf(value_count, sensor = 'cdu_return_temp_c'), 0) AS return_c,
        sumIf(value_sum, sensor = 'coolant_flow_lpm') / nullIf(sumIf(value_count, sensor = 'coolant_flow_lpm'), 0) AS flow_lpm,
        sumIf(value_sum, sensor = 'pdu_power_w') / nullIf(sumIf(value_count, sensor = 'pdu_power_w'), 0) AS pdu_w,
        sumIf(value_sum, sensor = 'room_inlet_temp_c') / nullIf(sumIf(value_count, sensor = 'room_inlet_temp_c'), 0) AS room_inlet_c,
        sumIf(value_sum, sensor = 'room_humidity_pct') / nullIf(sumIf(value_count, sensor = 'room_humidity_pct'), 0) AS humidity_pct
    FROM facility_minute
    GROUP BY minute, site, hall, rack
) AS f
LEFT JOIN
(
    SELECT toStartOfMinute(ts) AS minute, cluster, hall, rack,
           sum(power_mw) / uniqExact(ts) / 1000 AS gpu_power_w, sum(gpus) / uniqExact(ts) AS gpus_reporting
    FROM power_rack_1s
    GROUP BY minute, cluster, hall, rack
) AS g ON g.minute = f.minute AND g.cluster = f.site AND g.hall = f.hall AND g.rack = f.rack
LEFT JOIN
(
    SELECT minute, cluster, hall, rack, max(gpu_temp_c_max) AS peak_gpu_temp_c
    FROM gpu_minute
    GROUP BY minute, cluster, hall, rack
) AS t ON t.minute = f.minute AND t.cluster = f.site AND t.hall = f.hall AND t.rack = f.rack;
