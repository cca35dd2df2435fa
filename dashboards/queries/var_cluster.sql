-- Clusters known from the GPU inventory.
SELECT DISTINCT cluster FROM gpu_inventory ORDER BY cluster
