-- What the store holds in the window: GPU rows, distinct GPUs and nodes, ticks, events,
-- dead letters.
-- Params: from_ms, to_ms (epoch ms).
-- Defaults: from_ms=now-1h, to_ms=now
SELECT
    (SELECT count() FROM gpu_samples WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS gpu_rows,
    (SELECT uniqExact(uuid) FROM gpu_samples WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS gpus,
    (SELECT uniqExact(node) FROM gpu_samples WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS nodes,
    (SELECT uniqExact(ts) FROM gpu_samples WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS ticks,
    (SELECT count() FROM gpu_events WHERE ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
        AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')) AS events,
    (SELECT count() FROM dead_letters) AS dead_letters
