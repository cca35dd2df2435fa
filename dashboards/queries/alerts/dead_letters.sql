-- Dead letters stored in the window per source topic: messages ingest could not decode or
-- validate. Each is kept with its reason in the dead_letters table.
SELECT splitByChar('/', source)[1] AS source_name, count() AS value
FROM dead_letters
WHERE $__timeFilter(ts)
GROUP BY source_name
HAVING value >= {{dead_letters_min}}
