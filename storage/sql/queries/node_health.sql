-- Node health from the node_health view: per node, reporting / stale (no sample for 30 s) /
-- missing (in inventory, never reported), GPUs expected versus reporting, and active faults
-- (thermal throttling, power brake, pending or failed row remaps, fatal XIDs in the last hour).
-- Params: only_problems (1: only nodes that are stale, missing GPUs or have faults; 0: all).
-- Defaults: only_problems=1
SELECT cluster, hall, rack, node, status, age_s, last_seen, gpus_expected, gpus_reporting, gpus_missing,
       gpus_thermal_throttled, gpus_power_brake, gpus_remap_pending_or_failed, fatal_xids_1h, active_faults
FROM node_health
WHERE {only_problems:UInt8} = 0 OR status != 'reporting' OR gpus_missing > 0 OR active_faults > 0
ORDER BY status = 'reporting', active_faults DESC, gpus_missing DESC, node
