-- The time span the store holds, from the per-second fleet power rollup (power_fleet_1s):
-- first and last second with any GPU sample. The report's default window ends at the last.
-- Params: none.
SELECT min(ts) AS first_ts, max(ts) AS last_ts, count() AS seconds
FROM (SELECT ts FROM power_fleet_1s GROUP BY ts)
