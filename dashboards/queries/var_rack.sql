-- Racks of the selected halls.
SELECT DISTINCT rack FROM gpu_inventory WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) ORDER BY rack
