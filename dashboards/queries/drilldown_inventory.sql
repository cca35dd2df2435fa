-- Identity and limits of the selected GPUs, from the inventory.
SELECT node, toString(gpu_index) AS gpu, uuid, serial, model, pci_bus_id, driver_version, vbios_version,
       power_limit_default_mw / 1000 AS power_limit_w, temp_slowdown_c, temp_shutdown_c, temp_mem_max_c
FROM gpu_inventory FINAL
WHERE $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) AND $__conditionalAll(node IN (${node:singlequote}), $node) AND $__conditionalAll(toString(gpu_index) IN (${gpu:singlequote}), $gpu)
ORDER BY node, gpu
