"""Roll-ups by bucket start, computed inside DuckDB from closed files only.

Buckets are keyed on (exchange, symbol, bucket_start) of the observation time, never the
write time; a rerun replaces exactly its buckets, so it gives identical rows.
"""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import attach_all, attach_sql, check_version, replace_where, write_atomic
from funding_pipeline.lib.storage.schemas import MARKET_SNAPSHOTS, MARKET_STATS_1H, MARKET_STATS_1M

# Buckets by epoch arithmetic: date_trunc on TIMESTAMPTZ goes through ICU time zones and made
# the 1m roll-up ~8x slower (docs/benchmarks.md).
# Minute buckets from raw 15 s rows: OHLC of mark price, avg/min/max of the per-hour rate,
# last known open interest and volume. "Last known" needs no FILTER: DuckDB's arg_max skips rows
# whose value is NULL (arg_max_null would not); the FILTER clauses cost ~30 % of the roll-up.
STATS_1M_SELECT = """
SELECT to_timestamp(floor(epoch(observed_at) / 60) * 60) AS bucket_start, exchange, symbol,
       any_value(base_asset) AS base_asset,
       count(*)::INTEGER AS samples,
       arg_min(mark_price, observed_at) AS mark_price_open,
       max(mark_price) AS mark_price_high,
       min(mark_price) AS mark_price_low,
       arg_max(mark_price, observed_at) AS mark_price_close,
       avg(funding_rate_1h) AS funding_rate_1h_avg,
       min(funding_rate_1h) AS funding_rate_1h_min,
       max(funding_rate_1h) AS funding_rate_1h_max,
       arg_max(open_interest_usd, observed_at) AS open_interest_usd_last,
       arg_max(volume_24h_usd, observed_at) AS volume_24h_usd_last
FROM {source}
WHERE observed_at >= to_timestamp(?) AND observed_at < to_timestamp(?)
GROUP BY ALL
"""

# Hour buckets from minute buckets: sample-weighted average, extremes, first open, last close.
STATS_1H_SELECT = """
SELECT to_timestamp(floor(epoch(bucket_start) / 3600) * 3600) AS bucket_start, exchange, symbol,
       any_value(base_asset) AS base_asset,
       sum(samples)::INTEGER AS samples,
       arg_min(mark_price_open, bucket_start) AS mark_price_open,
       max(mark_price_high) AS mark_price_high,
       min(mark_price_low) AS mark_price_low,
       arg_max(mark_price_close, bucket_start) AS mark_price_close,
       sum(funding_rate_1h_avg * samples) / sum(samples) AS funding_rate_1h_avg,
       min(funding_rate_1h_min) AS funding_rate_1h_min,
       max(funding_rate_1h_max) AS funding_rate_1h_max,
       arg_max(open_interest_usd_last, bucket_start) AS open_interest_usd_last,
       arg_max(volume_24h_usd_last, bucket_start) AS volume_24h_usd_last
FROM {source}
WHERE bucket_start >= to_timestamp(?) AND bucket_start < to_timestamp(?)
GROUP BY ALL
"""

OUTSIDE = "NOT (bucket_start >= to_timestamp(?) AND bucket_start < to_timestamp(?))"
# Bounds are bound as epoch seconds: binding a tz-aware datetime costs DuckDB ~20 ms per statement.


def _insert(con: duckdb.DuckDBPyConnection, target: str, select: str, params: list) -> None:
    cols = ", ".join(f'"{c}"' for c in MARKET_STATS_1M.column_names)
    con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM ({select})", params)  # sql-ok


def write_stats_1m(warehouse: Path, chunk_file: Path, start: datetime, end: datetime) -> Path:
    """The minute buckets of one closed chunk, as their own file (a rerun replaces it whole)."""

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(attach_sql(chunk_file, "chunk"))  # write_atomic detaches it
        check_version(con, "chunk", MARKET_SNAPSHOTS, chunk_file)
        select = STATS_1M_SELECT.format(source="chunk.market_snapshots")
        _insert(con, "market_stats_1m", select, [start.timestamp(), end.timestamp()])

    # One thread: a chunk is one row group, which DuckDB cannot split; a second thread only
    # adds coordination (~40 % more CPU per chunk, docs/benchmarks.md).
    return write_atomic(layout.stats_1m_path(warehouse, start), [MARKET_STATS_1M], fill, threads=1, small=True)


def write_stats_1h(warehouse: Path, hour: datetime) -> Path | None:
    """Replace one hour's buckets in the day's 1h file from the hour's 1m files. An hour without
    1m files writes nothing (its rows, if any, stay) and returns None."""
    end = hour + timedelta(hours=1)
    sources = layout.hour_files(warehouse, hour, layout.stats_1m_path)
    if not sources:
        return None

    def add(con: duckdb.DuckDBPyConnection) -> None:
        union = attach_all(con, MARKET_STATS_1M, sources, "m")
        bounds = [hour.timestamp(), end.timestamp()]
        _insert(con, "market_stats_1h", STATS_1H_SELECT.format(source=f"({union})"), bounds)

    path = layout.stats_1h_path(warehouse, hour.date())
    bounds = [hour.timestamp(), end.timestamp()]
    return replace_where(path, MARKET_STATS_1H, OUTSIDE, bounds, add, threads=1)  # ~100k rows: as for 1m
