-- GPU indexes (0-7) of the selected nodes.
SELECT DISTINCT toString(gpu_index) AS gpu FROM gpu_inventory WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(hall IN (${hall:singlequote}), $hall) AND $__conditionalAll(rack IN (${rack:singlequote}), $rack) AND $__conditionalAll(node IN (${node:singlequote}), $node) ORDER BY gpu
