-- PCIe replays per interval across the selected GPUs (counter increase per GPU within each
-- interval, summed). DCGM warns above ~31 replays/min on a Gen5 x16 link.
SELECT time, sum(replays) AS replays
FROM (
    SELECT $__timeInterval(minute) AS time, uuid, max(pcie_replay_count_max) - min(pcie_replay_count_min) AS replays
    FROM gpu_minute WHERE $__timeFilter(minute) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) GROUP BY time, uuid
)
GROUP BY time
ORDER BY time
