-- Fleet power in the window: now (latest sample time), peak and lowest, in megawatts.
-- Params: from_ms, to_ms (epoch ms).
SELECT
    argMax(megawatts, ts) AS now_megawatts,
    max(megawatts) AS peak_megawatts,
    min(megawatts) AS low_megawatts,
    argMax(gpus, ts) AS gpus_reporting_now,
    max(ts) AS latest_ts
FROM
(
    SELECT ts, sum(power_mw) / 1e9 AS megawatts, count() AS gpus
    FROM gpu_samples
    WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY ts
)
