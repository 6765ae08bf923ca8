"""Moving averages over 30 days x 1,500 markets of hourly rows: the asset code path vs bare DuckDB.

Generates, with the real schemas and file layout, 30 days (+ 1 day of lookback) of hourly
settled prints in `funding_rate_history` (one file per venue and month, 15 venues x 100 markets)
and the same markets' hourly `market_stats_1h` rows (one file per day), then computes the MAs
for the nine windows two ways, each in its own process:

  pipeline  `moving_averages.write_moving_averages`, what the funding_rate_ma asset calls
            (attach the files, time-weighted MA SQL, copy-on-write file, fsync, row counts)
  duckdb    the same window SQL (`MA_SELECT`) in one bare DuckDB connection over the same
            files, the result written to a DuckDB file with CREATE TABLE AS

and prints wall / CPU / peak memory of each and the pipeline/duckdb ratio (target <= 1.5x).

    python benchmarks/ma_vs_duckdb.py [--markets 1500] [--days 30] [--keep DIR]
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
VENUES = 15


def generate(warehouse: Path, markets: int, days: int) -> int:
    from funding_pipeline.lib.storage import layout
    from funding_pipeline.lib.storage.files import write_atomic
    from funding_pipeline.lib.storage.schemas import FUNDING_RATE_HISTORY, MARKET_STATS_1H

    start = AS_OF - timedelta(days=days + 1)
    per_venue = markets // VENUES
    hist_cols = ", ".join(FUNDING_RATE_HISTORY.column_names)
    hist_select = f"""
        SELECT {hist_cols} FROM (
          SELECT to_timestamp(h * 3600) AS funding_time, ? AS exchange, 'SYM' || m AS symbol, 'SYM' || m AS base_asset,
                 0.0001 * cos(h / 50.0 + m) AS funding_rate, '0.0001' AS funding_rate_raw,
                 1.0 AS funding_interval_hours, 'derived' AS interval_source,
                 0.0001 * cos(h / 50.0 + m) AS funding_rate_1h, 0.876 * cos(h / 50.0 + m) AS funding_apr,
                 'history_endpoint' AS source
          FROM range(?) t(m), range(?, ?) u(h))
    """  # sql-ok: fixed identifiers
    stats_cols = ", ".join(MARKET_STATS_1H.column_names)
    stats_select = f"""
        SELECT {stats_cols} FROM (
          SELECT to_timestamp(h * 3600) AS bucket_start, 'venue' || (m % ?) AS exchange, 'SYM' || m AS symbol,
                 'SYM' || m AS base_asset, 240 AS samples,
                 100.0 AS mark_price_open, 101.0 AS mark_price_high, 99.0 AS mark_price_low, 100.5 AS mark_price_close,
                 0.0001 * sin(h / 40.0 + m) AS funding_rate_1h_avg, -0.001 AS funding_rate_1h_min,
                 0.001 AS funding_rate_1h_max, 1e6 AS open_interest_usd_last, 1e7 AS volume_24h_usd_last
          FROM range(?) t(m), range(?, ?) u(h))
    """  # sql-ok: fixed identifiers
    rows = 0
    for v in range(VENUES):
        month = start.replace(day=1)
        while month < AS_OF:
            nxt = (month + timedelta(days=32)).replace(day=1)
            lo, hi = max(month, start), min(nxt, AS_OF)
            params = [f"venue{v}", per_venue, int(lo.timestamp()) // 3600, int(hi.timestamp()) // 3600]

            def fill(con, params=params):
                con.execute(f"INSERT INTO funding_rate_history ({hist_cols}) {hist_select}", params)  # sql-ok

            write_atomic(layout.history_path(warehouse, f"venue{v}", lo.date()), [FUNDING_RATE_HISTORY], fill)
            rows += per_venue * (params[3] - params[2])
            month = nxt
    day = start
    while day < AS_OF:
        params = [VENUES, per_venue * VENUES, int(day.timestamp()) // 3600, int(day.timestamp()) // 3600 + 24]

        def fill(con, params=params):
            con.execute(f"INSERT INTO market_stats_1h ({stats_cols}) {stats_select}", params)  # sql-ok

        write_atomic(layout.stats_1h_path(warehouse, day.date()), [MARKET_STATS_1H], fill)
        rows += per_venue * VENUES * 24
        day += timedelta(days=1)
    return rows


def run_pipeline(warehouse: Path) -> dict:
    from funding_pipeline.lib.moving_averages import write_moving_averages

    report = write_moving_averages(warehouse, AS_OF)
    return {"rows": report.rows, "files": report.history_files + report.stats_files}


def run_duckdb(warehouse: Path) -> dict:
    import duckdb

    from funding_pipeline.lib.moving_averages import LONGEST_HOURS, MA_SELECT, PERIODS

    hist = sorted((warehouse / "funding_rate_history").rglob("*.duckdb"))
    stats = sorted((warehouse / "market_stats_1h").glob("*.duckdb"))
    out = warehouse.parent / "bare_ma.duckdb"
    out.unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for view, table, files in (("src_history", "funding_rate_history", hist), ("src_stats", "market_stats_1h", stats)):
        for n, path in enumerate(files):
            con.execute(f"ATTACH '{path}' AS {view}_{n} (READ_ONLY)")  # sql-ok: benchmark paths
        union = " UNION ALL ".join(f"SELECT * FROM {view}_{n}.{table}" for n in range(len(files)))  # sql-ok
        con.execute(f"CREATE TEMP VIEW {view} AS {union}")  # sql-ok
    con.execute("CREATE TEMP TABLE ma_periods (period VARCHAR, hours INTEGER)")
    con.executemany("INSERT INTO ma_periods VALUES (?, ?)", list(PERIODS))
    con.execute(f"ATTACH '{out}' AS out")  # sql-ok: benchmark path
    params = {"as_of": AS_OF.timestamp(), "longest": LONGEST_HOURS * 3600, "min_coverage": 0.8}
    con.execute(f"CREATE TABLE out.ma AS {MA_SELECT}", params)  # sql-ok
    rows = con.execute("SELECT count(*) FROM out.ma").fetchone()[0]
    con.close()
    return {"rows": rows, "files": len(hist) + len(stats)}


def _child(way: str, warehouse: Path) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    result = {"pipeline": run_pipeline, "duckdb": run_duckdb}[way](warehouse)
    result.update(
        wall_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=1500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", type=Path, default=None, help="generate into this folder and keep it")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="ma_bench_"))
    warehouse = root / "warehouse"
    t0 = time.perf_counter()
    rows = generate(warehouse, args.markets, args.days)
    took = time.perf_counter() - t0
    print(f"generated {rows:,} hourly rows ({args.markets} markets, {args.days}+1 days) in {took:.1f}s")
    results = {}
    for way in ("duckdb", "pipeline", "duckdb", "pipeline"):  # alternate; keep the second of each
        out = subprocess.run(
            [sys.executable, __file__, "--child", way, str(warehouse)], capture_output=True, text=True, check=True
        )
        results[way] = json.loads(out.stdout.strip().splitlines()[-1])
    for way, r in results.items():
        print(
            f"{way:<9} wall {r['wall_s']:.2f}s  cpu {r['cpu_s']:.2f}s  peak {r['max_rss_mb']:.0f} MB  "
            f"rows {r['rows']}  files {r['files']}"
        )
    ratio = results["pipeline"]["wall_s"] / results["duckdb"]["wall_s"]
    print(f"pipeline / duckdb wall: {ratio:.2f}x (target <= 1.5x)")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
