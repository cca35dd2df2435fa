-- Per GPU, over rollup rows: seconds (1 Hz samples) of each throttle reason, the reasons as
-- words, the reason bits seen, peak temperature and lowest SM clock. Included in a SELECT list.
sum(thermal_samples) AS thermal_s,
sum(power_brake_samples) AS power_brake_s,
sum(power_cap_samples) AS power_cap_s,
sum(hw_slowdown_samples) AS hw_slowdown_s,
arrayStringConcat(arrayFilter(w -> w != '', [
    if(thermal_s > 0, 'thermal', ''), if(power_brake_s > 0, 'power brake', ''),
    if(power_cap_s > 0, 'power cap', ''), if(hw_slowdown_s > 0, 'hw slowdown', '')]), ', ') AS why,
groupBitOr(reasons_seen) AS reasons_seen,
max(gpu_temp_c_max) AS peak_gpu_temp_c,
min(sm_clock_mhz_min) AS lowest_sm_clock_mhz
