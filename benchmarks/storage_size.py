"""On-disk size of schema v2 per column, on realistic synthetic rows.

    .venv/bin/python benchmarks/storage_size.py [--gpus 1024] [--hours 6]

Rows of the default scenario go through the full v2 schema (codecs from 002, every rollup
view attached), parts are merged (OPTIMIZE FINAL), and system.columns gives each column's
compressed and uncompressed bytes. Prints bytes per value per column, the average over the
metric columns (target: <= 1 byte), bytes per row, the rollup tables' share, and a
projection to 200,000 GPUs at 1 Hz (17.28 billion rows a day) before replication.
"""

from __future__ import annotations

from storage_fleet import filled_store, flags, mib

from gpufleet.contract.columns import METRIC_NAMES
from storage.clickhouse import ClickHouseStore

FLEET_ROWS_PER_DAY = 200_000 * 86_400
ROLLUPS = ("gpu_minute", "gpu_hour", "power_rack_1s", "power_hall_1s", "power_fleet_1s", "gpu_latest_state")


def column_sizes(store: ClickHouseStore, table: str) -> list[tuple[str, int, int]]:
    return [
        (str(n), int(c), int(u))
        for n, c, u in store.query(
            "SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns"
            " WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
            {"t": table},
        ).rows
    ]


def table_bytes(store: ClickHouseStore, table: str) -> tuple[int, int]:
    row = store.query(
        "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = {t:String}"
        " AND active",
        {"t": table},
    ).rows[0]
    return int(row[0] or 0), int(row[1] or 0)


def main() -> None:
    args = flags(__doc__, gpus=1024, hours=6.0).parse_args()
    store, rows, insert_s, wall_s = filled_store("size", args.gpus, args.hours)
    print(f"{rows:,} rows ({args.gpus:,} GPUs x {args.hours:g} h at 1 Hz): {wall_s:.0f} s in all,")
    print(f"  {insert_s:.0f} s inside inserts with all v2 views ({rows / insert_s:,.0f} rows/s)")
    for table in ("gpu_samples", *ROLLUPS):
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    sizes = column_sizes(store, "gpu_samples")
    print("\n| column | bytes/value on disk | uncompressed bytes/value | ratio |")
    print("|---|---|---|---|")
    for name, compressed, uncompressed in sizes:
        print(f"| {name} | {compressed / rows:.3f} | {uncompressed / rows:.2f} | {uncompressed / max(compressed, 1):,.0f}x |")
    metric = [(c, u) for n, c, u in sizes if n in METRIC_NAMES]
    metric_c, metric_u = sum(c for c, _ in metric), sum(u for _, u in metric)
    total_c, total_u = sum(c for _, c, _ in sizes), sum(u for _, _, u in sizes)
    print(
        f"\nmetric columns ({len(metric)}): {metric_c / (rows * len(metric)):.3f} bytes/value on disk"
        f" (uncompressed {metric_u / (rows * len(metric)):.2f}), target <= 1"
    )
    whole = f"{total_c / rows:.2f} bytes (uncompressed {total_u / rows:.1f})"
    print(f"whole row (ts, labels, {len(metric)} metrics, seq, inserted_at): {whole}")
    raw_disk, _ = table_bytes(store, "gpu_samples")
    print(f"\ngpu_samples on disk: {mib(raw_disk)} ({raw_disk / rows:.2f} bytes/row incl. marks and indexes)")
    rollup_disk = 0
    for table in ROLLUPS:
        disk, n = table_bytes(store, table)
        rollup_disk += disk
        print(f"  {table}: {n:,} rows, {mib(disk)} ({disk / raw_disk:.1%} of raw)")
    per_day_raw = raw_disk / rows * FLEET_ROWS_PER_DAY
    print(
        f"\nprojection, 200,000 GPUs at 1 Hz: raw {per_day_raw / 1e9:,.0f} GB/day, 14 days {per_day_raw * 14 / 1e12:,.1f} TB;"
        f" rollups add {rollup_disk / raw_disk:.1%} (per-GPU rollups scale with GPUs, not with time at 1 Hz)"
    )


if __name__ == "__main__":
    main()
