-- The GPU rollup rows of the window [from_ms, to_ms], {{args}} of each: the whole hours
-- inside it from gpu_hour, the partial hours at its ends from gpu_minute, so a 24 h window
-- reads ~24x fewer rows and the figures are the same as from gpu_minute alone. m0 is the
-- window's first whole minute, t1 its end, [h0, h1) its whole hours. Included inside FROM ( ).
WITH
    toStartOfMinute(toDateTime(intDiv({from_ms:Int64}, 1000), 'UTC')) AS m0,
    toDateTime(intDiv({to_ms:Int64}, 1000), 'UTC') AS t1,
    if(toStartOfHour(m0) = m0, m0, toStartOfHour(m0) + INTERVAL 1 HOUR) AS h0,
    toStartOfHour(t1 - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS h1
SELECT {{args}} FROM gpu_hour WHERE hour >= h0 AND hour < h1
UNION ALL
SELECT {{args}} FROM gpu_minute WHERE minute BETWEEN m0 AND t1 AND NOT (minute >= h0 AND minute < h1)
