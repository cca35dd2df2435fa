-- The stored GPU-hours of the stragglers query's whole clock hours (rack-hours in
-- `checked.1`), as more rows of the UNION `gpu_partials`; part straggler_no_stored_rows (no
-- rows) replaces it for a window without a whole hour. Included after a SELECT of gpu_partials.
UNION ALL
SELECT rack, node, gpu_index, uuid, busy_minutes AS busy, slow_minutes[greatest(stored_at, 1)] AS slow, clock_minutes, clock_mhz_sum,
       rack_clock_minutes, rack_clock_mhz_sum, util_pct_sum, rack_util_pct_sum
FROM gpu_straggler_hour FINAL
WHERE hour >= h0 AND hour < h1 AND busy_minutes > 0
  AND (hour, cluster, rack) IN checked.1
