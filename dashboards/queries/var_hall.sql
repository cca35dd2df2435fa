-- Halls of the selected clusters.
SELECT DISTINCT hall FROM gpu_inventory WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) ORDER BY hall
