-- Jobs that held GPUs in the selected clusters during the range, most recent first.
SELECT job_id FROM (SELECT job_id, min(start_ts) AS started FROM gpu_job_intervals WHERE start_ts <= $__toTime AND (end_ts IS NULL OR end_ts >= $__fromTime) AND $__conditionalAll(cluster IN (${cluster:singlequote}), $cluster) GROUP BY job_id) ORDER BY started DESC LIMIT 1000
