-- The stragglers query's window, for one with whole clock hours: the scalar `checked` (the
-- rack-hours of the whole hours that gpu_straggler_hour holds as gpu_hour counts them now,
-- .1, and the hours with a rack it does not, .2; evaluated once, as one scalar subquery whose
-- two arrays the IN filters read as constant sets: a CTE read by three INs was analysed,
-- planned and run three times, ~50 ms of a 24 h query, measured) and the CTE `minutes`, the
-- window's gpu_minute rows that no stored rack-hour covers. Needs m0, t1, h0, h1 and
-- stored_at; part straggler_minute_window replaces it for a window without a whole hour
-- (storage/queries.py). Included after WITH.
(
    SELECT (groupArrayIf((hour, cluster, rack), stored), groupUniqArrayIf(hour, NOT stored))
    FROM
    (
        SELECT hour, cluster, rack, stored_at > 0 AND s.rack_samples = h.samples AS stored
        FROM (SELECT hour, cluster, rack, sum(samples) AS samples FROM gpu_hour WHERE hour >= h0 AND hour < h1
              GROUP BY hour, cluster, rack) AS h
        LEFT JOIN (SELECT hour, cluster, rack, max(rack_samples) AS rack_samples FROM gpu_straggler_hour FINAL
                   WHERE hour >= h0 AND hour < h1 GROUP BY hour, cluster, rack) AS s USING (hour, cluster, rack)
    )
) AS checked,
minutes AS
(
    -- the window's minutes that no stored rack-hour covers: a minute range for the partial hours, whole hours where a rack is not stored
    SELECT * FROM gpu_minute
    WHERE minute BETWEEN m0 AND t1
      AND (minute < h0 OR minute >= h1 OR toStartOfHour(minute) IN checked.2)
      AND (toStartOfHour(minute), cluster, rack) NOT IN checked.1
),
