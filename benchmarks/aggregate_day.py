"""One synthetic day (default 1,500 markets x 5,760 slots = 8.64 M raw rows) aggregated to
1-minute and 1-hour rows four ways, each in its own process, alternated, side by side:

  pipeline  the asset code path, files included: `write_stats_1m` for each of the 288 closed
            chunk files (what the collection run does when a chunk closes: attach the chunk,
            check its schema version, aggregate, copy-on-write 1m file), then `write_stats_1h`
            for each of the 24 hours (what market_stats_1h does: rewrite the day's 1h file)
  duckdb    the same SQL (`STATS_1M_SELECT`, `STATS_1H_SELECT`) in one bare DuckDB process:
            the 288 chunk files attached, the whole day's 1m rows in one statement, then 1h
            from them, both tables written to one DuckDB file (no per-file writes or checks)
  pandas    the same aggregates with pandas groupby: the used columns read from the same chunk
            files into one DataFrame, grouped, both results written to one DuckDB file
  files     the floor of one 1m file per chunk: each chunk's 1m rows computed beforehand (not
            timed), then written as the pipeline writes them (`write_atomic`, 288 files), then
            the pipeline's 1h; pipeline minus files is the roll-up itself

All three read the same closed chunk files (written with the real schema and layout) and write
their results to disk; the output of every way is fingerprinted and must agree.

    python benchmarks/aggregate_day.py [--markets 1500] [--rounds 2] [--ways pipeline,duckdb,pandas,files] [--keep DIR]
"""

import argparse
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, not an installed copy

DAY = datetime(2026, 11, 1, tzinfo=UTC)
CHUNKS = 288  # 5-minute chunks in a day
SLOTS = 20  # 15 s slots in a chunk
VENUES = 21


def chunk_starts() -> list[datetime]:
    return [DAY + timedelta(minutes=5 * k) for k in range(CHUNKS)]


def generate(warehouse: Path, markets: int) -> int:
    """288 closed chunk files of 20 slots x `markets` rows, written with the real schema."""
    from funding_pipeline.lib.storage import layout
    from funding_pipeline.lib.storage.files import write_atomic
    from funding_pipeline.lib.storage.schemas import MARKET_SNAPSHOTS, TRACKER_POLLS

    # BY NAME: a column added to the schema later is NULL here instead of breaking the script.
    select = """
        INSERT INTO market_snapshots BY NAME
        SELECT to_timestamp(? + s * 15) AS observed_at,
               'venue' || (m % 21) AS exchange, 'SYM' || m AS symbol, 'SYM' || m AS base_asset,
               1.0 AS contract_multiplier,
               100 + m + sin(s / 7.0 + m) AS mark_price, 100 + m AS index_price,
               0.0001 * cos(s / 50.0 + m) AS funding_rate, '0.0001' AS funding_rate_raw,
               'decimal' AS rate_unit, 8.0 AS funding_interval_hours, 'venue' AS interval_source,
               8.0 AS settlement_interval_hours,
               0.0001 * cos(s / 50.0 + m) / 8 AS funding_rate_1h,
               0.0001 * cos(s / 50.0 + m) / 8 * 8760 AS funding_apr,
               1000.0 + s AS open_interest_base,
               CASE WHEN m % 10 <> 0 THEN (1000.0 + s) * (100 + m) END AS open_interest_usd,
               1e6 + s AS volume_24h_usd, to_timestamp(? + 28800) AS next_funding_at
        FROM range(?) t(m), range(20) u(s)
    """
    for start in chunk_starts():
        epoch = start.timestamp()

        def fill(con, epoch=epoch):
            con.execute(select, [epoch, epoch, markets])

        write_atomic(layout.chunk_path(warehouse, start), [MARKET_SNAPSHOTS, TRACKER_POLLS], fill)
    return CHUNKS * SLOTS * markets


def fingerprint(path: Path, table_1m: str, table_1h: str) -> dict:
    """Row counts and column sums of both outputs, so the ways can be checked to agree."""
    import duckdb

    from funding_pipeline import warehouse as wh

    sums = (
        "count(*), sum(samples), round(sum(mark_price_close), 3), round(sum(funding_rate_1h_avg) * 1e6, 6), "
        "round(sum(open_interest_usd_last), 0)"
    )
    if path.is_dir():  # a data root: read through warehouse.connect()
        con = wh.connect(path, tables=["market_stats_1m", "market_stats_1h"])
    else:
        con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: list(con.execute(f"SELECT {sums} FROM {t}").fetchone()) for t in (table_1m, table_1h)}  # sql-ok
    finally:
        con.close()


def run_pipeline(root: Path, out: Path) -> dict:
    from funding_pipeline.lib.aggregates import write_stats_1h, write_stats_1m
    from funding_pipeline.lib.storage import layout

    warehouse = root / "warehouse"
    t0 = time.perf_counter()
    for start in chunk_starts():
        write_stats_1m(warehouse, layout.chunk_path(warehouse, start), start, start + timedelta(minutes=5))
    t1 = time.perf_counter()
    for h in range(24):
        write_stats_1h(warehouse, DAY + timedelta(hours=h))
    return {"1m_s": t1 - t0, "1h_s": time.perf_counter() - t1, "result": root}


def run_duckdb(root: Path, out: Path) -> dict:
    import duckdb

    from funding_pipeline.lib.aggregates import STATS_1H_SELECT, STATS_1M_SELECT
    from funding_pipeline.lib.storage import layout

    t0 = time.perf_counter()
    chunks = layout.kind_of_table("market_snapshots").files(root / "warehouse")
    target = out / "bare.duckdb"
    con = duckdb.connect(str(target))
    con.execute("SET TimeZone = 'UTC'")
    for i, path in enumerate(chunks):
        con.execute(f"ATTACH '{path}' AS c{i} (READ_ONLY)")  # sql-ok: benchmark paths
    union = " UNION ALL ".join(f"SELECT * FROM c{i}.market_snapshots" for i in range(len(chunks)))  # sql-ok
    con.execute(f"CREATE TEMP VIEW raw AS {union}")  # sql-ok
    bounds = [DAY.timestamp(), (DAY + timedelta(days=1)).timestamp()]
    t1 = time.perf_counter()
    con.execute(f"CREATE TABLE market_stats_1m AS {STATS_1M_SELECT.format(source='raw')}", bounds)  # sql-ok
    t2 = time.perf_counter()
    con.execute(f"CREATE TABLE market_stats_1h AS {STATS_1H_SELECT.format(source='market_stats_1m')}", bounds)  # sql-ok
    con.execute("CHECKPOINT")
    con.close()
    return {"attach_s": t1 - t0, "1m_s": t2 - t1, "1h_s": time.perf_counter() - t2, "result": target}


def run_pandas(root: Path, out: Path) -> dict:
    import duckdb

    from funding_pipeline.lib.storage import layout

    used = "observed_at, exchange, symbol, base_asset, mark_price, funding_rate_1h, open_interest_usd, volume_24h_usd"
    t0 = time.perf_counter()
    chunks = layout.kind_of_table("market_snapshots").files(root / "warehouse")
    with duckdb.connect() as con:  # the cheapest way into pandas: one connection, files attached
        con.execute("SET TimeZone = 'UTC'")
        for i, path in enumerate(chunks):
            con.execute(f"ATTACH '{path}' AS c{i} (READ_ONLY)")  # sql-ok: benchmark paths
        union = " UNION ALL ".join(f"SELECT {used} FROM c{i}.market_snapshots" for i in range(len(chunks)))  # sql-ok
        raw = con.execute(union).df().sort_values("observed_at", kind="stable")
    t1 = time.perf_counter()
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
        open_interest_usd_last=("open_interest_usd", "last"),  # groupby last skips NaN, like FILTER
        volume_24h_usd_last=("volume_24h_usd", "last"),
    ).reset_index()
    del raw, g
    t2 = time.perf_counter()
    m1["hour"] = m1["bucket_start"].dt.floor("h")
    m1["weighted"] = m1["funding_rate_1h_avg"] * m1["samples"]
    h = m1.groupby(["hour", "exchange", "symbol"], sort=False)  # m1 is in bucket order already
    h1 = h.agg(
        base_asset=("base_asset", "first"),
        samples=("samples", "sum"),
        mark_price_open=("mark_price_open", "first"),
        mark_price_high=("mark_price_high", "max"),
        mark_price_low=("mark_price_low", "min"),
        mark_price_close=("mark_price_close", "last"),
        weighted=("weighted", "sum"),
        funding_rate_1h_min=("funding_rate_1h_min", "min"),
        funding_rate_1h_max=("funding_rate_1h_max", "max"),
        open_interest_usd_last=("open_interest_usd_last", "last"),
        volume_24h_usd_last=("volume_24h_usd_last", "last"),
    ).reset_index()
    h1["funding_rate_1h_avg"] = h1.pop("weighted") / h1["samples"]
    h1 = h1.rename(columns={"hour": "bucket_start"})
    m1 = m1.drop(columns=["hour", "weighted"])
    target = out / "pandas.duckdb"
    with duckdb.connect(str(target)) as con:
        con.execute("CREATE TABLE market_stats_1m AS SELECT * FROM m1")
        con.execute("CREATE TABLE market_stats_1h AS SELECT * FROM h1")
    return {"read_s": t1 - t0, "1m_s": t2 - t1, "1h_s": time.perf_counter() - t2, "result": target}


def run_files(root: Path, out: Path) -> dict:
    import duckdb

    from funding_pipeline.lib.aggregates import STATS_1M_SELECT, write_stats_1h
    from funding_pipeline.lib.storage import layout
    from funding_pipeline.lib.storage.files import attach_sql, insert_arrow, write_atomic
    from funding_pipeline.lib.storage.schemas import MARKET_STATS_1M

    warehouse = root / "warehouse"
    rolled = []
    with duckdb.connect() as con:  # not timed: the roll-up, kept in memory as Arrow
        con.execute("SET TimeZone = 'UTC'")
        for start in chunk_starts():
            con.execute(attach_sql(layout.chunk_path(warehouse, start), "c"))
            select = STATS_1M_SELECT.format(source="c.market_snapshots")
            bounds = [start.timestamp(), (start + timedelta(minutes=5)).timestamp()]
            rolled.append((start, con.execute(select, bounds).fetch_arrow_table()))
            con.execute("DETACH c")
    t0, c0 = time.perf_counter(), time.process_time()
    for start, rows in rolled:
        write_atomic(
            layout.stats_1m_path(warehouse, start),
            [MARKET_STATS_1M],
            lambda con, rows=rows: insert_arrow(con, MARKET_STATS_1M, rows),
            threads=1,
        )
    t1 = time.perf_counter()
    for h in range(24):
        write_stats_1h(warehouse, DAY + timedelta(hours=h))
    return {"1m_s": t1 - t0, "1h_s": time.perf_counter() - t1, "writes_cpu": time.process_time() - c0, "result": root}


WAYS = {"pipeline": run_pipeline, "duckdb": run_duckdb, "pandas": run_pandas, "files": run_files}


def child(way: str, root: str, out: str) -> None:
    started_cpu, started = time.process_time(), time.perf_counter()
    extra = WAYS[way](Path(root), Path(out))
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    if way == "files":  # only the writes count: the in-memory roll-up before them is not timed
        wall, cpu = extra["1m_s"] + extra["1h_s"], extra.pop("writes_cpu")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = extra.pop("result")
    fp = fingerprint(result, "market_stats_1m", "market_stats_1h")
    print(json.dumps({"way": way, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak_mb, **extra, "fingerprint": fp}))


def _agree(a: dict, b: dict) -> bool:
    """Equal counts, sums equal to 1e-9 (float sums depend on the order rows are added)."""
    return all(math.isclose(x, y, rel_tol=1e-9) for t in a for x, y in zip(a[t], b[t], strict=True))


def prepare(root: Path, markets: int) -> None:
    """Generate the day's chunk files unless `root` already holds them for `markets`."""
    marker = root / "generated.json"
    if marker.exists() and json.loads(marker.read_text()) == {"markets": markets, "chunks": CHUNKS}:
        print(f"reusing {CHUNKS * SLOTS * markets:,} raw rows in {CHUNKS} chunk files under {root}")
        return
    shutil.rmtree(root / "warehouse", ignore_errors=True)
    t0 = time.perf_counter()
    rows = generate(root / "warehouse", markets)
    marker.write_text(json.dumps({"markets": markets, "chunks": CHUNKS}))
    print(f"generated {rows:,} raw rows in {CHUNKS} chunk files in {time.perf_counter() - t0:.1f}s under {root}")


def run_way(way: str, root: Path) -> dict:
    out = root / f"out-{way}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for table in ("market_stats_1m", "market_stats_1h"):  # every pipeline run starts from no aggregates
        shutil.rmtree(root / "warehouse" / table, ignore_errors=True)
    command = [sys.executable, __file__, "--child", way, str(root), str(out)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{way} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2, help="each way runs this often, order alternated")
    parser.add_argument("--ways", default="pipeline,duckdb,pandas,files")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    ways = args.ways.split(",")
    root = args.keep or Path(tempfile.mkdtemp(prefix="aggbench-"))
    prepare(root, args.markets)
    runs: dict[str, list[dict]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for way in ways if r % 2 == 0 else ways[::-1]:
            res = run_way(way, root)
            runs[way].append(res)
            phases = "  ".join(
                f"{k[:-2]} {v:5.2f}s" for k, v in res.items() if k.endswith("_s") and k not in ("wall_s", "cpu_s")
            )
            print(
                f"round {r + 1} {way:<9} wall {res['wall_s']:6.2f}s  cpu {res['cpu_s']:6.2f}s  "
                f"peak {res['peak_mb']:6.0f} MB  ({phases})"
            )
    first = runs[ways[0]][0]["fingerprint"]
    for way, rs in runs.items():
        for res in rs:
            if not _agree(res["fingerprint"], first):
                sys.exit(f"outputs differ: {ways[0]} {first}, {way} {res['fingerprint']}")
    print(f"outputs agree: {first}")
    med = {
        w: {k: statistics.median(res[k] for res in rs) for k in ("wall_s", "cpu_s", "peak_mb")}
        for w, rs in runs.items()
    }
    print(f"\nmedian of {args.rounds} round(s), {args.markets} markets:")
    for w, m in med.items():
        print(f"  {w:<9} wall {m['wall_s']:6.2f}s  cpu {m['cpu_s']:6.2f}s  peak {m['peak_mb']:6.0f} MB")
    pairs = (("pipeline", "duckdb", 2, "<= 1.3x"), ("pandas", "pipeline", 1, ">= 10x"), ("files", "duckdb", 2, "none"))
    for slow, fast, digits, target in pairs:
        if slow in runs and fast in runs:
            ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[slow], runs[fast], strict=True)]
            each = ", ".join(f"{x:.{digits}f}" for x in ratios)
            print(f"{slow} / {fast} wall: {statistics.median(ratios):.{digits}f}x (rounds: {each}; target {target})")
    if "pipeline" in med:
        print(f"pipeline peak memory: {med['pipeline']['peak_mb']:.0f} MB (target <= 1024 MB)")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
