-- The GPU rollup rows of the window [from_ms, to_ms], {{args}} of each, from gpu_minute
-- alone: what part gpu_rollup_window reads when the window holds no whole clock hour (its
-- gpu_hour side is then empty and its minute side is this). storage/queries.py runs a query
-- with this part instead of gpu_rollup_window for such a window: the same rows, half the
-- text for the engine to analyze and plan, which is most of the time of a 1 h query.
-- Included inside FROM ( ).
SELECT {{args}} FROM gpu_minute
WHERE minute BETWEEN toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AND toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC')
