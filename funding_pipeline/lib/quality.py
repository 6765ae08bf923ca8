"""Data-quality queries behind the asset checks; plain functions over a DuckDB connection."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from funding_pipeline.lib.storage import layout
from funding_pipeline.warehouse import connect_files

SLOTS_PER_HOUR = 240
WARN_SHARE = 0.95
ERROR_SHARE = 0.50


def hour_connection(warehouse: Path, hour: datetime) -> duckdb.DuckDBPyConnection:
    """Views over one hour's closed chunk files and its 1-minute file."""
    chunks = layout.hour_files(warehouse, hour, layout.chunk_path)
    return connect_files(
        {
            "market_snapshots": chunks,
            "tracker_polls": chunks,
            "market_stats_1m": layout.hour_files(warehouse, hour, layout.stats_1m_path),
        }
    )


@dataclass
class Coverage:
    shares: dict[str, float]
    worst: float
    below_warn: list[str]
    below_error: list[str]


def slot_coverage(con, start: datetime, end: datetime, enabled: list[str], expected: int) -> Coverage:
    """Share of expected slots in which each enabled venue answered with rows."""
    found = dict(
        con.execute(
            "SELECT exchange, count(DISTINCT slot_at) FILTER (WHERE ok AND rows > 0) FROM tracker_polls "
            "WHERE slot_at >= ? AND slot_at < ? GROUP BY exchange",
            [start, end],
        ).fetchall()
    )
    shares = {e: round(found.get(e, 0) / expected, 4) if expected else 0.0 for e in enabled}
    return Coverage(
        shares=shares,
        worst=min(shares.values(), default=1.0),
        below_warn=sorted(e for e, s in shares.items() if s < WARN_SHARE),
        below_error=sorted(e for e, s in shares.items() if s < ERROR_SHARE),
    )


def duplicate_snapshots(con, start: datetime, end: datetime) -> list[tuple]:
    return con.execute(
        "SELECT observed_at, exchange, symbol, count(*) AS n FROM market_snapshots "
        "WHERE observed_at >= ? AND observed_at < ? GROUP BY ALL HAVING count(*) > 1 ORDER BY n DESC LIMIT 10",
        [start, end],
    ).fetchall()


def samples_vs_raw(con, start: datetime, end: datetime) -> tuple[int, int]:
    """(raw rows, sum of 1m samples) over the same window; equal when nothing was lost."""
    raw = con.execute(
        "SELECT count(*) FROM market_snapshots WHERE observed_at >= ? AND observed_at < ?", [start, end]
    ).fetchone()[0]
    samples = con.execute(
        "SELECT coalesce(sum(samples), 0) FROM market_stats_1m WHERE bucket_start >= ? AND bucket_start < ?",
        [start, end],
    ).fetchone()[0]
    return int(raw), int(samples)


def non_finite_snapshots(con, start: datetime, end: datetime) -> int:
    return con.execute(
        "SELECT count(*) FROM market_snapshots WHERE observed_at >= ? AND observed_at < ? AND NOT ("
        "isfinite(mark_price) AND isfinite(funding_rate) AND isfinite(funding_rate_1h) AND isfinite(funding_apr) "
        "AND coalesce(isfinite(index_price), true) AND coalesce(isfinite(open_interest_usd), true) "
        "AND coalesce(isfinite(volume_24h_usd), true) AND mark_price > 0)",
        [start, end],
    ).fetchone()[0]


def stats_connection(warehouse: Path, start: datetime, end: datetime) -> duckdb.DuckDBPyConnection:
    """Views over the 1m hour files and 1h day files covering [start, end)."""
    hours, days = [], []
    at = start
    while at < end:
        hours.extend(layout.hour_files(warehouse, at, layout.stats_1m_path))
        day = layout.stats_1h_path(warehouse, at.date())
        if day not in days:
            days.append(day)
        at += timedelta(hours=1)
    return connect_files(
        {
            "market_stats_1m": hours,
            "market_stats_1h": [p for p in days if p.exists()],
        }
    )


def hourly_sample_mismatches(con, start: datetime, end: datetime) -> list[list[str]]:
    rows = con.execute(
        "WITH m AS (SELECT date_trunc('hour', bucket_start) AS hour, exchange, symbol, sum(samples) AS s "
        "  FROM market_stats_1m WHERE bucket_start >= ? AND bucket_start < ? GROUP BY ALL), "
        "h AS (SELECT bucket_start AS hour, exchange, symbol, samples AS s "
        "  FROM market_stats_1h WHERE bucket_start >= ? AND bucket_start < ?) "
        "SELECT coalesce(m.hour, h.hour), coalesce(m.exchange, h.exchange), coalesce(m.symbol, h.symbol), m.s, h.s "
        "FROM m FULL JOIN h USING (hour, exchange, symbol) WHERE m.s IS DISTINCT FROM h.s ORDER BY 1, 2, 3",
        [start, end, start, end],
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


MISPLACED_SELECT = """
SELECT
    (SELECT count(*) FROM market_stats_1h WHERE bucket_start <> date_trunc('hour', bucket_start)),
    (SELECT count(*) FROM market_stats_1h WHERE bucket_start < $day_start OR bucket_start >= $day_end),
    (SELECT count(*) - count(DISTINCT (bucket_start, exchange, symbol)) FROM market_stats_1h),
    (SELECT count(*) FROM market_stats_1h h WHERE h.bucket_start >= $start AND h.bucket_start < $end
        AND NOT EXISTS (SELECT 1 FROM market_stats_1m m
                        WHERE m.exchange = h.exchange AND m.symbol = h.symbol
                          AND m.bucket_start >= h.bucket_start
                          AND m.bucket_start < h.bucket_start + INTERVAL 1 HOUR)),
    (SELECT count(*) FROM market_stats_1m WHERE bucket_start < $start OR bucket_start >= $end)
"""
MISPLACED_KINDS = ("off_hour_boundary", "outside_file_day", "duplicated", "hour_without_1m_rows", "1m_outside_hour")


def misplaced_hour_buckets(con, start: datetime, end: datetime) -> dict[str, int]:
    """Rows out of place, by kind, over the views of `stats_connection(start, end)`:
    1h rows of the partition's day files off an hour boundary, outside those days, or
    duplicated; 1h rows of the partition's hours whose own hour holds no 1m row of that
    market (a bucket that does not come from its hour); and 1m rows in the partition's hour
    files that lie outside the partition's hours (they would be left out of the roll-up)."""
    day_start = datetime.combine(start.date(), datetime.min.time(), start.tzinfo)
    last = end - timedelta(microseconds=1)
    day_end = datetime.combine(last.date(), datetime.min.time(), start.tzinfo) + timedelta(days=1)
    params = {"start": start, "end": end, "day_start": day_start, "day_end": day_end}
    counts = con.execute(MISPLACED_SELECT, params).fetchone()
    return dict(zip(MISPLACED_KINDS, (int(c) for c in counts), strict=True))


def latest_connection(warehouse: Path, tables: list[str]) -> duckdb.DuckDBPyConnection:
    files = {t: [layout.latest_path(warehouse, t)] for t in tables}
    return connect_files({t: [p for p in paths if p.exists()] for t, paths in files.items()})


def inconsistent_token_rates(con) -> list[list[str]]:
    rows = con.execute(
        "SELECT exchange, symbol, funding_rate, funding_interval_hours, funding_rate_1h, funding_rate_8h, funding_apr "
        "FROM normalized_tokens WHERE "
        "abs(funding_rate_1h - funding_rate / funding_interval_hours) > 1e-12 + 1e-9 * abs(funding_rate_1h) "
        "OR abs(funding_rate_8h - 8 * funding_rate_1h) > 1e-12 + 1e-9 * abs(funding_rate_8h) "
        "OR abs(funding_apr - 8760 * funding_rate_1h) > 1e-12 + 1e-9 * abs(funding_apr) LIMIT 10"
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


def missing_venues(con, enabled: list[str]) -> list[str]:
    present = {r[0] for r in con.execute("SELECT DISTINCT exchange FROM normalized_tokens").fetchall()}
    return sorted(set(enabled) - present)


def same_venue_legs(con) -> int:
    return con.execute("SELECT count(*) FROM funding_arbitrage WHERE long_exchange = short_exchange").fetchone()[0]
