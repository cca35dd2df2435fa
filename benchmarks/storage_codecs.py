"""Bytes per value on disk for each candidate codec, per gpu_samples column.

    .venv/bin/python benchmarks/storage_codecs.py [--gpus 1024] [--hours 1]

Synthetic rows (default scenario) go into a v1 `gpu_samples` table; then, per column, one
table holds that column once per candidate codec (same type, Nullable as in the schema,
same ORDER BY as the raw table), filled by INSERT ... SELECT and merged with OPTIMIZE
FINAL. Bytes per value = the column's compressed bytes / rows (system.columns). A codec the
engine rejects for a type (Gorilla on integers, T64 on Bool) shows as "-". The synthetic
fleet samples on exact seconds; real collectors do not, so `ts` is also measured with up
to 25 ms of deterministic jitter (`ts_jitter`). This table decides storage/sql/ddl/002.
"""

from __future__ import annotations

from storage_fleet import filled_store, flags

from gpufleet.contract.columns import GPM_PCT_COLUMNS, METRIC_COLUMNS
from gpufleet.contract.errors import StoreError
from storage.clickhouse import ClickHouseStore

CANDIDATES: dict[str, str] = {
    "LZ4": "LZ4",
    "ZSTD(1)": "ZSTD(1)",
    "ZSTD(3)": "ZSTD(3)",
    "Delta,ZSTD": "Delta, ZSTD(1)",
    "DoubleDelta,ZSTD": "DoubleDelta, ZSTD(1)",
    "T64,ZSTD": "T64, ZSTD(1)",
    "Delta,T64,ZSTD": "Delta, T64, ZSTD(1)",
    "Gorilla,ZSTD": "Gorilla, ZSTD(1)",
}


def columns_to_measure() -> list[tuple[str, str, str]]:
    """(name, type, source expression) for ts, the jittered ts and every metric; for the GPM
    percentages also as Float32 with NVML's sub-percent digits (whole percent plus a
    deterministic fraction in [-0.5, 0.5)), the alternative to whole-percent UInt8."""
    out = [
        ("ts", "DateTime64(3, 'UTC')", "ts"),
        ("ts_jitter", "DateTime64(3, 'UTC')", "ts + toIntervalMillisecond(cityHash64(node, gpu_index, ts) % 25)"),
    ]
    out += [(m.name, f"Nullable({m.ch_type})", m.name) for m in METRIC_COLUMNS]
    fraction = "(cityHash64(node, gpu_index, ts) % 100) / 100 - 0.5"
    out += [(f"{c}_f32", "Nullable(Float32)", f"toFloat32(greatest({c} + {fraction}, 0))") for c in GPM_PCT_COLUMNS]
    return out


def measure_column(store: ClickHouseStore, name: str, ch_type: str, source: str) -> dict[str, float | None]:
    """Bytes per value of `source` under every candidate codec the engine accepts."""
    accepted: dict[str, str] = {}
    for label, codec in CANDIDATES.items():
        probe = f"codec_probe_{abs(hash(label)) % 10**8}"
        try:
            store.command(f"CREATE TABLE {probe} (v {ch_type} CODEC({codec})) ENGINE = Memory")
            store.command(f"DROP TABLE {probe}")
            accepted[label] = codec
        except StoreError:
            continue
    cols = ", ".join(f"c{i} {ch_type} CODEC({codec})" for i, codec in enumerate(accepted.values()))
    table = f"codec_{name}"
    store.command(
        f"CREATE TABLE {table} (cluster LowCardinality(String), node LowCardinality(String), gpu_index UInt8,"
        f" ts DateTime64(3, 'UTC'), {cols}) ENGINE = MergeTree ORDER BY (cluster, node, gpu_index, ts)"
    )
    copies = ", ".join(f"{source} AS c{i}" for i in range(len(accepted)))
    store.command(f"INSERT INTO {table} SELECT cluster, node, gpu_index, ts, {copies} FROM gpu_samples")
    store.command(f"OPTIMIZE TABLE {table} FINAL")
    sizes = store.query(
        "SELECT name, data_compressed_bytes FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
        {"t": table},
    ).rows
    rows = int(store.query(f"SELECT count() FROM {table}").rows[0][0])
    by_col = {str(n): int(b) for n, b in sizes}
    store.command(f"DROP TABLE {table}")
    result: dict[str, float | None] = dict.fromkeys(CANDIDATES)
    for i, label in enumerate(accepted):
        result[label] = by_col[f"c{i}"] / rows
    return result


def main() -> None:
    parser = flags(__doc__, gpus=1024, hours=1.0)
    parser.add_argument("--only", default="", help="comma-separated prefixes of the columns to measure (default: all)")
    args = parser.parse_args()
    only = tuple(p for p in args.only.split(",") if p)
    store, rows, _, wall_s = filled_store("codecs", args.gpus, args.hours, schema="v1")
    print(f"{rows:,} rows ({args.gpus:,} GPUs x {args.hours} h at 1 Hz) generated and stored in {wall_s:.0f} s")
    labels = list(CANDIDATES)
    header = ["column", *labels, "best"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, ch_type, source in columns_to_measure():
        if only and not name.startswith(only):
            continue
        result = measure_column(store, name, ch_type, source)
        valid = {k: v for k, v in result.items() if v is not None}
        best = min(valid, key=lambda k: valid[k])
        cells = [f"{v:.3f}" if v is not None else "-" for v in result.values()]
        print(f"| {name} | " + " | ".join(cells) + f" | {best} |", flush=True)


if __name__ == "__main__":
    main()
