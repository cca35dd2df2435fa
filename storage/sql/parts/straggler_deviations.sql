-- The deviations gpu_straggler_hour (migration 018) keeps a slow-minute count for, one per
-- element of its slow_minutes; a `stragglers` deviation among them reads the stored hours.
-- Included after WITH.
[0.05, 0.1, 0.15, 0.2, 0.25, 0.3] AS straggler_deviations,
