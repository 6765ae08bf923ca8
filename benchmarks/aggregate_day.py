"""One synthetic day (default 1,500 markets x 5,760 slots = 8.64 M raw rows) aggregated to
1-minute and 1-hour rows three ways, side by side in one run:

  pipeline  the asset code path: `write_stats_1m` per closed chunk (as the collection run
            does), then `write_stats_1h` per hour (as market_stats_1h does)
  duckdb    the same SQL in bare DuckDB: one connection over the same chunk files, one
            1m table written to one file, then 1h from it
  pandas    the same aggregates with a pandas groupby over the same rows

Each way runs in its own process so peak memory (max RSS) is its own.

    python benchmarks/aggregate_day.py [--markets 1500] [--keep DIR]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def generate(warehouse: Path, markets: int) -> int:
    """288 closed chunk files of 20 slots x `markets` rows, written with the real schema."""
    from funding_pipeline.lib.storage import layout
    from funding_pipeline.lib.storage.files import write_atomic
    from funding_pipeline.lib.storage.schemas import MARKET_SNAPSHOTS, TRACKER_POLLS

    cols = ", ".join(MARKET_SNAPSHOTS.column_names)
    select = f"""
        SELECT {cols} FROM (
          SELECT CAST(? AS TIMESTAMPTZ) + to_seconds(s * 15) AS observed_at,
                 'venue' || (m % 20) AS exchange, 'SYM' || m AS symbol, 'SYM' || m AS base_asset,
                 1.0 AS contract_multiplier,
                 100 + m + sin(s / 7.0 + m) AS mark_price, 100 + m AS index_price,
                 0.0001 * cos(s / 50.0 + m) AS funding_rate, '0.0001' AS funding_rate_raw,
                 'decimal' AS rate_unit, 8.0 AS funding_interval_hours, 'fixed' AS interval_source,
                 0.0001 * cos(s / 50.0 + m) / 8 AS funding_rate_1h,
                 0.0001 * cos(s / 50.0 + m) / 8 * 8760 AS funding_apr,
                 1000.0 + s AS open_interest_base, (1000.0 + s) * (100 + m) AS open_interest_usd,
                 1e6 + s AS volume_24h_usd, NULL::TIMESTAMPTZ AS next_funding_at
          FROM range(?) t(m), range(20) u(s))
    """  # sql-ok: fixed identifiers
    for k in range(288):
        start = DAY + timedelta(minutes=5 * k)

        def fill(con, start=start):
            con.execute(f"INSERT INTO market_snapshots ({cols}) {select}", [start, markets])  # sql-ok

        write_atomic(layout.chunk_path(warehouse, start), [MARKET_SNAPSHOTS, TRACKER_POLLS], fill)
    return 288 * 20 * markets


def run_pipeline(warehouse: Path) -> dict:
    from funding_pipeline.lib.aggregates import write_stats_1h, write_stats_1m
    from funding_pipeline.lib.storage import layout

    for k in range(288):
        start = DAY + timedelta(minutes=5 * k)
        write_stats_1m(warehouse, layout.chunk_path(warehouse, start), start, start + timedelta(minutes=5))
    for h in range(24):
        write_stats_1h(warehouse, DAY + timedelta(hours=h))
    return {}


def run_duckdb(warehouse: Path, out: Path) -> dict:
    import duckdb

    from funding_pipeline.lib.aggregates import STATS_1H_SELECT, STATS_1M_SELECT
    from funding_pipeline.lib.storage import layout

    chunks = layout.KINDS[0].files(warehouse)
    con = duckdb.connect(str(out / "bare.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    for i, path in enumerate(chunks):
        con.execute(f"ATTACH '{path}' AS c{i} (READ_ONLY)")  # sql-ok: benchmark paths
    union = " UNION ALL ".join(f"SELECT * FROM c{i}.market_snapshots" for i in range(len(chunks)))
    con.execute(f"CREATE VIEW raw AS {union}")  # sql-ok
    con.execute(f"CREATE TABLE m1 AS {STATS_1M_SELECT.format(source='raw')}", [DAY, DAY + timedelta(days=1)])
    con.execute(f"CREATE TABLE h1 AS {STATS_1H_SELECT.format(source='m1')}", [DAY, DAY + timedelta(days=1)])
    con.execute("CHECKPOINT")
    con.close()
    return {}


def run_pandas(warehouse: Path) -> dict:
    import duckdb
    import pandas as pd

    from funding_pipeline.lib.storage import layout

    frames = []
    for path in layout.KINDS[0].files(warehouse):
        with duckdb.connect(str(path), read_only=True) as con:
            frames.append(con.execute("SELECT * FROM market_snapshots").df())
    raw = pd.concat(frames, ignore_index=True).sort_values("observed_at")
    raw["bucket_start"] = raw["observed_at"].dt.floor("min")
    g = raw.groupby(["bucket_start", "exchange", "symbol"], sort=False)
    m1 = g.agg(
        base_asset=("base_asset", "first"),
        samples=("mark_price", "size"),
        mark_price_open=("mark_price", "first"),
        mark_price_high=("mark_price", "max"),
        mark_price_low=("mark_price", "min"),
        mark_price_close=("mark_price", "last"),
        funding_rate_1h_avg=("funding_rate_1h", "mean"),
        funding_rate_1h_min=("funding_rate_1h", "min"),
        funding_rate_1h_max=("funding_rate_1h", "max"),
        open_interest_usd_last=("open_interest_usd", "last"),
        volume_24h_usd_last=("volume_24h_usd", "last"),
    ).reset_index()
    m1["hour"] = m1["bucket_start"].dt.floor("h")
    m1["weighted"] = m1["funding_rate_1h_avg"] * m1["samples"]
    h = m1.sort_values("bucket_start").groupby(["hour", "exchange", "symbol"], sort=False)
    h1 = h.agg(samples=("samples", "sum"), weighted=("weighted", "sum"), mark_price_open=("mark_price_open", "first"),
               mark_price_close=("mark_price_close", "last"), mark_price_high=("mark_price_high", "max"),
               mark_price_low=("mark_price_low", "min"))  # fmt: skip
    h1["funding_rate_1h_avg"] = h1["weighted"] / h1["samples"]
    return {"rows_1m": len(m1), "rows_1h": len(h1)}


def child(way: str, warehouse: str, out: str) -> None:
    started_cpu, started = time.process_time(), time.perf_counter()
    ways = {
        "pipeline": lambda: run_pipeline(Path(warehouse)),
        "duckdb": lambda: run_duckdb(Path(warehouse), Path(out)),
        "pandas": lambda: run_pandas(Path(warehouse)),
    }
    extra = ways[way]()
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"way": way, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak_mb, **extra}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=1500)
    parser.add_argument("--keep")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    root = Path(args.keep or tempfile.mkdtemp(prefix="aggbench-"))
    warehouse = root / "warehouse"
    t0 = time.perf_counter()
    rows = generate(warehouse, args.markets)
    print(f"generated {rows:,} raw rows in 288 chunk files in {time.perf_counter() - t0:.1f}s under {root}")
    results = {}
    for way in ("duckdb", "pipeline", "pandas"):
        out = root / f"out-{way}"
        out.mkdir(exist_ok=True)
        command = [sys.executable, __file__, "--child", way, str(warehouse), str(out)]
        proc = subprocess.run(command, capture_output=True, text=True, check=True)
        results[way] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[way]
        print(f"{way:<9} wall {r['wall_s']:6.2f}s  cpu {r['cpu_s']:6.2f}s  peak {r['peak_mb']:7.0f} MB")
    base = results["duckdb"]["wall_s"]
    print(f"pipeline / bare duckdb: {results['pipeline']['wall_s'] / base:.2f}x (target <= 1.3x)")
    print(f"pandas / pipeline:      {results['pandas']['wall_s'] / results['pipeline']['wall_s']:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
