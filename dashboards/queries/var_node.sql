-- Nodes of the selected racks.
SELECT DISTINCT node FROM gpu_inventory WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack) ORDER BY node
