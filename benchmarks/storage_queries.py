"""Dashboard queries over 24 h of the whole (synthetic) fleet: from rollups vs from raw rows.

    .venv/bin/python benchmarks/storage_queries.py [--gpus 512] [--hours 24] [--repeats 5]

Fills schema v2 with `--hours` of the fleet at 1 Hz (every view attached), merges parts,
then times each dashboard question twice in the same run: the named query (rollups) and
the same answer computed from gpu_samples. Prints the median latency of each, the speed-up,
and whether the answers agree. Target: rollups <= 200 ms and >= 10x faster than raw.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from storage_fleet import filled_store, flags

from storage import queries
from storage.clickhouse import ClickHouseStore

WINDOW = "ts BETWEEN fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')"
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


def raw_stragglers() -> str:
    """The stragglers query with its per-GPU-minute step computed from raw rows."""
    text = queries.get("stragglers").text
    start, end = text.index("per_gpu AS"), text.index("with_peers AS")
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


def timed(store: ClickHouseStore, sql: str, params: dict[str, Any], repeats: int) -> tuple[float, list[tuple[Any, ...]]]:
    rows: list[tuple[Any, ...]] = []
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rows = store.query(sql, params).rows
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def main() -> None:
    args = flags(__doc__, gpus=512, hours=24.0, repeats=5).parse_args()
    t = time.perf_counter()
    store, rows, _, _ = filled_store("queries", args.gpus, args.hours)
    for table in ("gpu_samples", "gpu_minute", "power_fleet_1s", "power_rack_1s", "power_hall_1s"):
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    print(f"{rows:,} rows ({args.gpus:,} GPUs x {args.hours:g} h) stored and merged in {time.perf_counter() - t:.0f} s")
    first_ms, last_ms = store.query(
        "SELECT toUnixTimestamp64Milli(min(ts)), toUnixTimestamp64Milli(max(ts)) FROM gpu_samples"
    ).rows[0]
    params: dict[str, Any] = {"from_ms": first_ms, "to_ms": last_ms, "step_s": 60, "limit": 10, "min_s": 1}
    params |= {"deviation": 0.1, "min_minutes": 5, "span_s": 60}
    RAW["power_swing"] = raw_power_swing()
    RAW["stragglers"] = raw_stragglers()
    print("\n| query (24 h, whole fleet) | rollups (named query) | raw rows | speed-up | same answer |")
    print("|---|---|---|---|---|")
    for name, raw_sql in RAW.items():
        named = queries.get(name)
        bound = named.bind({k: v for k, v in params.items() if k in dict(named.params)})
        fast_s, fast = timed(store, named.text, bound, args.repeats)
        slow_s, slow = timed(store, raw_sql, params, args.repeats)
        agree = _agree(name, fast, slow)
        print(f"| {name} | {fast_s * 1000:.0f} ms | {slow_s * 1000:.0f} ms | {slow_s / fast_s:.0f}x | {agree} |", flush=True)


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
