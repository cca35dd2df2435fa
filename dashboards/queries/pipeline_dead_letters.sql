-- Dead letters per interval by source (topic, or the in-process transport): messages ingest
-- could not decode or validate. Each one is kept with its reason.
SELECT $__timeInterval(ts) AS time, splitByChar('/', source)[1] AS source_name, count() AS dead_letters
FROM dead_letters
WHERE $__timeFilter(ts)
GROUP BY time, source_name
ORDER BY time
