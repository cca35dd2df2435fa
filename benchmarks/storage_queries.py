"""Dashboard queries over 24 h of the whole (synthetic) fleet: from rollups vs from raw rows.

    .venv/bin/python benchmarks/storage_queries.py [--gpus 512] [--hours 24] [--repeats 5]
    .venv/bin/python benchmarks/storage_queries.py --gpus 10000 --raw-minutes 10

Without `--raw-minutes`, fills schema v2 with `--hours` of the fleet at 1 Hz (every view
attached), merges parts, then times each dashboard question twice in the same run: the
named query (rollups) and the same answer computed from gpu_samples, both over the whole
stored window. Prints the median latency of each, the same window through the query text as of
BEFORE_REV (main before this round's query changes; its parts as they are now), the speed-up,
and whether the answers agree.

With `--raw-minutes N` (for fleets whose day of raw rows does not fit here: 10,000 GPUs x
24 h is 864 M rows), only the last N minutes are real (the synthetic fleet through
`insert_samples`, which fills every rollup); the hours before are generated straight
into the rollups by SQL as `bench_report.py` does (gpu_minute, gpu_hour rolled up from it by `hour_from_minute_sql`,
power_fleet_1s). The named query is timed over the whole `--hours` window, and both it and
the raw query over the N real minutes (where "same answer" is checked); the raw time for
`--hours` is estimated as the raw-window time x (hours x 60 / N), a raw query being one scan
of rows that grow with the window. Targets: <= 100 ms at 512 GPUs, <= 1 s at 10,000 GPUs,
>= 20x faster than raw.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from typing import Any

from storage_fleet import filled_store, flags, generated_store, mib

from storage import queries
from storage.clickhouse import ClickHouseStore
from storage.sqlfiles import resolve

WINDOW = "ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')"
SLOW_S = 3.0
PREVIOUS_REV = "18a404a"  # main before gpu_straggler_hour (018)
BEFORE_REV = "00e5de8"  # main before the window without whole hours and the single rack-hour check
RAW: dict[str, str] = {
    "fleet_power_series": f"""
        SELECT toStartOfInterval(s, toIntervalSecond({{step_s:UInt32}})) AS t, avg(megawatts) AS avg_megawatts,
               max(megawatts) AS peak_megawatts, min(megawatts) AS low_megawatts, max(gpus) AS gpus_reporting
        FROM (SELECT toStartOfSecond(ts) AS s, sum(power_mw) / 1e9 AS megawatts, count(power_mw) AS gpus
              FROM gpu_samples WHERE {WINDOW} GROUP BY s)
        GROUP BY t ORDER BY t""",
    "fleet_power": f"""
        SELECT argMax(megawatts, s) AS now_megawatts, max(megawatts) AS peak_megawatts, min(megawatts) AS low_megawatts
        FROM (SELECT toStartOfSecond(ts) AS s, sum(power_mw) / 1e9 AS megawatts FROM gpu_samples WHERE {WINDOW} GROUP BY s)""",
    "hottest_gpus": f"""
        SELECT rack, node, gpu_index, uuid, max(gpu_temp_c) AS peak_gpu_temp_c, max(mem_temp_c) AS peak_mem_temp_c
        FROM gpu_samples WHERE {WINDOW}
        GROUP BY rack, node, gpu_index, uuid ORDER BY peak_gpu_temp_c DESC, peak_mem_temp_c DESC, node, gpu_index
        LIMIT {{limit:UInt32}}""",
    "energy": f"""
        SELECT sum(used) / 3.6e12 AS energy_megawatt_hours, count() AS gpus
        FROM (SELECT uuid, max(energy_mj) - min(energy_mj) AS used FROM gpu_samples WHERE {WINDOW} GROUP BY uuid)""",
    "throttled_gpus": f"""
        SELECT rack, node, gpu_index, uuid, countIf(bitAnd(clocks_event_reasons, 0x60) != 0) AS thermal_s,
               countIf(bitAnd(clocks_event_reasons, 0x80) != 0) AS power_brake_s
        FROM gpu_samples WHERE {WINDOW} GROUP BY rack, node, gpu_index, uuid
        HAVING greatest(thermal_s, power_brake_s) >= {{min_s:UInt32}}
        ORDER BY thermal_s + power_brake_s DESC, node, gpu_index LIMIT {{limit:UInt32}}""",
}


def previous(name: str, rev: str = PREVIOUS_REV) -> str:
    """The named query's text as of `rev` (by default before gpu_straggler_hour), read with
    `git show`, its parts as they are now."""
    path = f"storage/sql/queries/{name}.sql"
    text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout
    return resolve(text, path)


def raw_stragglers() -> str:
    """The stragglers query (as of PREVIOUS_REV: every minute from gpu_minute) with its
    per-GPU-minute step computed from raw rows."""
    text = previous("stragglers")
    start, end = text.index("per_gpu AS"), text.index("racks AS")
    per_gpu = f"""per_gpu AS
(
    SELECT toStartOfMinute(ts) AS minute, cluster, rack, node, gpu_index, uuid,
           avg(sm_clock_mhz) AS clock_mhz, avg(util_gpu_pct) AS util_pct
    FROM gpu_samples WHERE {WINDOW}
    GROUP BY minute, cluster, rack, node, gpu_index, uuid
    HAVING util_pct >= 5
),
"""
    return text[:start] + per_gpu + text[end:]


def raw_power_swing() -> str:
    """The power_swing query with its per-second fleet series computed from raw rows."""
    text = queries.get("power_swing").text
    start, end = text.index("series AS"), text.index("steps AS")
    series = """series AS
(
    SELECT toDateTime(r.ts) AS ts, sum(r.power_mw) / 1e9 AS megawatts, count(r.power_mw) AS gpus
    FROM gpu_samples AS r
    WHERE r.ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY ts
),
"""
    return text[:start] + series + text[end:]


CPU_S: dict[str, float] = {}  # the median CPU time of the process per call of the last timed() of each text


def timed(store: ClickHouseStore, sql: str, params: dict[str, Any], repeats: int) -> tuple[float, list[tuple[Any, ...]]]:
    return timed_in_turn(store, [sql], params, repeats)[0]


def timed_in_turn(
    store: ClickHouseStore, texts: list[str], params: dict[str, Any], repeats: int
) -> list[tuple[float, list[tuple[Any, ...]]]]:
    """Median wall time and the rows of each text, their calls in turn (a, b, a, b, ...): timed
    one after the other, the text timed first paid for the caches the next then found warm
    (3-8 ms of 20-30 on the same text, measured)."""
    times: list[list[float]] = [[] for _ in texts]
    cpu: list[list[float]] = [[] for _ in texts]
    rows: list[list[tuple[Any, ...]]] = [[] for _ in texts]
    for _ in range(repeats):
        for i, sql in enumerate(texts):
            t, c = time.perf_counter(), time.process_time()
            rows[i] = store.query(sql, params).rows
            times[i].append(time.perf_counter() - t)
            cpu[i].append(time.process_time() - c)
        if max(spent[-1] for spent in times) > SLOW_S:  # one run of a slow query says enough, and repeats cost minutes
            break
    for i, sql in enumerate(texts):
        CPU_S[sql] = statistics.median(cpu[i])
    return [(statistics.median(spent), got) for spent, got in zip(times, rows, strict=True)]


def main() -> None:
    args = flags(__doc__, gpus=512, hours=24.0, repeats=5, raw_minutes=0).parse_args()
    t = time.perf_counter()
    if args.raw_minutes:
        store, rows, end_s = generated_store("queries", args.gpus, int(args.hours), args.raw_minutes)
        full = {"from_ms": (end_s - int(args.hours) * 3600) * 1000, "to_ms": end_s * 1000}
        raw_window = {"from_ms": (end_s - args.raw_minutes * 60) * 1000, "to_ms": end_s * 1000}
        scale = args.hours * 60 / args.raw_minutes
        what = f"the last {args.raw_minutes} min real ({rows:,} raw rows), the hours before generated into the rollups"
    else:
        store, rows, _, _ = filled_store("queries", args.gpus, args.hours)
        first_ms, last_ms = store.query(
            "SELECT toUnixTimestamp64Milli(min(ts)), toUnixTimestamp64Milli(max(ts)) FROM gpu_samples"
        ).rows[0]
        full = raw_window = {"from_ms": first_ms, "to_ms": last_ms}
        scale, what = 1.0, f"{rows:,} raw rows"
    tables = ("gpu_samples", "gpu_minute", "gpu_hour", "power_fleet_1s", "power_rack_1s", "power_hall_1s", "gpu_straggler_hour")
    for table in tables:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    print(f"{args.gpus:,} GPUs x {args.hours:g} h: {what}; stored and merged in {time.perf_counter() - t:.0f} s")
    whole, projection = store.query(
        "SELECT sum(bytes_on_disk), (SELECT sum(bytes_on_disk) FROM system.projection_parts WHERE active"
        " AND database = currentDatabase() AND table = 'gpu_minute') FROM system.parts"
        " WHERE active AND database = currentDatabase() AND table = 'gpu_minute'"
    ).rows[0]
    print(f"gpu_minute on disk {mib(whole)}, of which the projection gpu_minute_by_time {mib(projection)}")
    params: dict[str, Any] = {"step_s": 60, "limit": 10, "min_s": 1, "deviation": 0.1, "min_minutes": 5, "span_s": 60}
    RAW["power_swing"] = raw_power_swing()
    RAW["stragglers"] = raw_stragglers()
    raw_label = "raw rows" if scale == 1 else f"raw rows, last {args.raw_minutes} min (x{scale:g} for {args.hours:g} h)"
    print(
        f"\n| query ({args.hours:g} h, whole fleet) | rollups (named query) | as of {BEFORE_REV} | {raw_label}"
        " | speed-up | same answer |"
    )
    print("|---|---|---|---|---|---|")
    total_s, stragglers_s, stragglers = 0.0, 0.0, []
    for name, raw_sql in RAW.items():
        named = queries.get(name)
        bound = {k: v for k, v in params.items() if k in dict(named.params)}
        full_bound = named.bind(bound | full)
        (fast_s, fast), (before_text_s, before_rows) = timed_in_turn(
            store, [named.sql(full_bound), previous(name, BEFORE_REV)], full_bound, args.repeats
        )
        fast_cpu_s = CPU_S[named.sql(full_bound)]
        if scale != 1:  # the named query again over the real minutes, for the answer check
            raw_bound = named.bind(bound | raw_window)
            _, fast = timed(store, named.sql(raw_bound), raw_bound, 1)
        slow_s, slow = timed(store, raw_sql, params | raw_window, max(1, args.repeats // 2) if scale != 1 else args.repeats)
        slow_full_s = slow_s * scale
        raw_text = f"{slow_s * 1000:.0f} ms" if scale == 1 else f"{slow_s * 1000:.0f} ms (~{slow_full_s:.1f} s)"
        agree = _agree(name, fast, slow)
        total_s += fast_s
        if name == "stragglers":
            stragglers_s, stragglers = fast_s, timed(store, named.sql(full_bound), full_bound, 1)[1]
        before_sql = previous(name, BEFORE_REV)
        same = _agree(name, before_rows, timed(store, named.sql(full_bound), full_bound, 1)[1]) == "yes"
        before_text = f"{before_text_s * 1000:.0f} ms (CPU {CPU_S[before_sql] * 1000:.0f})" + ("" if same else " (differs)")
        print(
            f"| {name} | {fast_s * 1000:.0f} ms (CPU {fast_cpu_s * 1000:.0f}) | {before_text} | {raw_text}"
            f" | {slow_full_s / fast_s:.0f}x | {agree} |",
            flush=True,
        )
    print(f"\nall {len(RAW)} named queries: {total_s * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f} (2 vCPUs)")
    straggler = queries.get("stragglers")
    straggler_params = straggler.bind({k: v for k, v in params.items() if k in dict(straggler.params)} | full)
    before_s, before = timed(store, previous("stragglers"), straggler_params, args.repeats)
    print(
        f"stragglers as of {PREVIOUS_REV} (every minute from gpu_minute), same window: {before_s * 1000:.0f} ms"
        f" ({before_s / stragglers_s:.1f}x the named query); same answer: {_agree('stragglers', stragglers, before)}"
    )


def _agree(name: str, fast: list[tuple[Any, ...]], slow: list[tuple[Any, ...]]) -> str:
    """Do both paths give the same answer? GPU lists by uuid, numbers to 1e-6 relative."""
    if name in ("hottest_gpus", "throttled_gpus", "stragglers"):
        return "yes" if sorted(r[3] for r in fast) == sorted(r[3] for r in slow) else "no"
    if len(fast) != len(slow):
        return "no"
    for fast_row, slow_row in zip(fast, slow, strict=True):
        for a, b in zip(fast_row, slow_row, strict=False):
            if isinstance(a, int | float) and isinstance(b, int | float) and abs(a - b) > 1e-6 * max(1.0, abs(b)):
                return "no"
    return "yes"


if __name__ == "__main__":
    main()
