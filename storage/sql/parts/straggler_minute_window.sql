-- What part straggler_window gives for a window that holds no whole clock hour: nothing is
-- stored for it, so `minutes` is the window's gpu_minute rows and no rack-hour is checked
-- (storage/queries.py picks this part then: about a third less time for a 1 h window,
-- measured). Included after WITH.
minutes AS
(
    SELECT * FROM gpu_minute WHERE minute BETWEEN m0 AND t1
),
