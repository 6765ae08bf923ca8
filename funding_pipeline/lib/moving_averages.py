"""Moving averages of the funding rate, accumulated funding, and the arbitrage ranking per MA window.

Everything is computed inside DuckDB over the warehouse files, as of one hour `as_of`
(windows are [as_of - W, as_of)), and written as copy-on-write `latest.duckdb` files.

**Time weighting.** Every input row covers a span of time: a settled print of
`funding_rate_history` covers the `funding_interval_hours` before its `funding_time`, cut at the
market's previous print (Paradex publishes hourly samples of a rate quoted per 8 h: each covers
its hour, not 8 h); a `market_stats_1h` row covers its hour. A window's average is
    sum(funding_rate_1h x hours of the span inside the window) / sum(hours inside the window),
so a venue is weighted by the time its rates were in force, never by how often it was sampled,
and a print straddling the window start counts with its overlapping hours only. Prints settled
after `as_of` are not yet known and are left out. When a venue lists several markets of one
base asset (BTCUSDT and BTCUSDC), their spans are pooled the same way.

**Coverage and validity.** `coverage` = hours of the window the best-covered market of the
(venue, base asset) has data for / window hours (0-1); `samples` = prints or hourly buckets
that overlap the window. A row whose coverage is below `min_coverage` is kept with `valid`
false instead of passing for a complete window.

**Source per row.** Both sources are averaged for every (venue, base asset, window); the row
takes the one with the higher coverage, settled history winning ties (`source` =
`history` / `stats_1h`). Short windows of 8-hourly venues are thus usually filled from the
hourly aggregates (the current period has not settled yet), long ones from settled history.

**Across venues (`exchange = '_all'`).** Per base asset and window, the venues' chosen rows
averaged with each venue weighted by the hours it has data in the window
(`coverage x window hours`): every venue-hour counts once, however many markets or samples
the venue has. `samples` is the sum, `coverage` the best venue's, `source` the venues' common
source or `mixed`.

**Accumulated funding.** Per (venue, base asset) and 1d / 7d / 30d: the sum of settled
`funding_rate` (the amounts paid per unit of notional) with as_of - W < funding_time <= as_of,
taken from the venue's primary market for that base asset (most prints in 30 days, then the
shortest symbol).

**Arbitrage per window.** Per (window, base asset) over the valid venue rows: long the lowest
MA APR, short the highest (ties by venue id), on different venues, with two or more venues.
`persistence` = in how many of the windows the same (long, short) pair wins for that asset.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import attach_all, connect, write_atomic
from funding_pipeline.lib.storage.schemas import (
    ACCUMULATED_FUNDING,
    FUNDING_ARBITRAGE_MA,
    FUNDING_RATE_HISTORY,
    FUNDING_RATE_MA,
    MARKET_STATS_1H,
    TABLES,
    Table,
)

PERIODS: tuple[tuple[str, int], ...] = (
    ("1h", 1),
    ("4h", 4),
    ("8h", 8),
    ("12h", 12),
    ("1d", 24),
    ("3d", 72),
    ("7d", 168),
    ("14d", 336),
    ("30d", 720),
)
ACCUMULATION_PERIODS: tuple[tuple[str, int], ...] = (("1d", 24), ("7d", 168), ("30d", 720))
LONGEST_HOURS = max(h for _, h in PERIODS)
DEFAULT_MIN_COVERAGE = 0.8
# A print settled at as_of - 30 d may cover up to this much further back; history before that
# never reaches into a window.
MAX_INTERVAL_HOURS = 24

MA_SELECT = """
WITH spans AS (
    SELECT exchange, base_asset, symbol, 'history' AS source,
           greatest(
               epoch(funding_time) - funding_interval_hours * 3600,
               coalesce(lag(epoch(funding_time)) OVER (PARTITION BY exchange, symbol ORDER BY funding_time), -1e18)
           ) AS lo,
           epoch(funding_time) AS hi, funding_rate_1h AS r
    FROM src_history
    WHERE funding_time <= to_timestamp($as_of) AND funding_time > to_timestamp($as_of - $longest)
      AND funding_interval_hours > 0 AND funding_rate_1h IS NOT NULL
    UNION ALL
    SELECT exchange, base_asset, symbol, 'stats_1h' AS source,
           epoch(bucket_start) AS lo, epoch(bucket_start) + 3600 AS hi, funding_rate_1h_avg AS r
    FROM src_stats
    WHERE bucket_start >= to_timestamp($as_of - $longest) AND bucket_start <= to_timestamp($as_of - 3600)
      AND funding_rate_1h_avg IS NOT NULL
),
overlapped AS (
    SELECT s.exchange, s.base_asset, s.symbol, s.source, s.r, p.period, p.hours,
           (least(s.hi, $as_of) - greatest(s.lo, $as_of - p.hours * 3600)) / 3600.0 AS h
    FROM spans s JOIN ma_periods p ON s.hi > $as_of - p.hours * 3600
),
per_market AS (
    SELECT exchange, base_asset, symbol, source, period, any_value(hours) AS hours,
           sum(r * h) AS weighted, sum(h) AS covered, count(*) AS samples
    FROM overlapped WHERE h > 0
    GROUP BY exchange, base_asset, symbol, source, period
),
per_venue AS (
    SELECT exchange, base_asset, source, period, any_value(hours) AS hours,
           sum(weighted) / sum(covered) AS ma, sum(samples) AS samples,
           round(least(1.0, max(covered) / any_value(hours)), 9) AS coverage
    FROM per_market
    GROUP BY exchange, base_asset, source, period
),
chosen AS (
    SELECT * FROM per_venue
    QUALIFY row_number() OVER (
        PARTITION BY exchange, base_asset, period ORDER BY coverage DESC, (source = 'history') DESC
    ) = 1
),
across AS (
    SELECT '_all' AS exchange, base_asset, period, any_value(hours) AS hours,
           sum(ma * coverage * hours) / sum(coverage * hours) AS ma, sum(samples) AS samples,
           max(coverage) AS coverage,
           CASE WHEN count(DISTINCT source) = 1 THEN any_value(source) ELSE 'mixed' END AS source
    FROM chosen
    GROUP BY base_asset, period
),
ma_rows AS (
    SELECT exchange, base_asset, period, ma, samples, coverage, source FROM chosen
    UNION ALL
    SELECT exchange, base_asset, period, ma, samples, coverage, source FROM across
)
SELECT exchange, base_asset, period,
       ma AS ma_funding_rate_1h, ma * 8760 AS ma_funding_apr,
       samples::INTEGER AS samples, coverage, coverage >= $min_coverage AS valid, source,
       to_timestamp($as_of) AS computed_at
FROM ma_rows
ORDER BY base_asset, exchange, period
"""

ACCUMULATED_SELECT = """
WITH per_market AS (
    SELECT h.exchange, h.base_asset, h.symbol, p.period,
           sum(h.funding_rate) AS accumulated_rate, count(*) AS prints
    FROM src_history h JOIN acc_periods p ON h.funding_time > to_timestamp($as_of - p.hours * 3600)
    WHERE h.funding_time <= to_timestamp($as_of)
    GROUP BY h.exchange, h.base_asset, h.symbol, p.period
),
primary_market AS (
    SELECT exchange, base_asset, symbol FROM per_market WHERE period = '30d'
    QUALIFY row_number() OVER (PARTITION BY exchange, base_asset ORDER BY prints DESC, length(symbol), symbol) = 1
)
SELECT exchange, base_asset, period, accumulated_rate, prints::INTEGER AS prints,
       to_timestamp($as_of) AS computed_at
FROM per_market JOIN primary_market USING (exchange, base_asset, symbol)
ORDER BY base_asset, exchange, period
"""

ARBITRAGE_MA_SELECT = """
WITH legs AS (
    SELECT m.*, coalesce(f.fee, $default_fee) AS taker_fee
    FROM src_ma m LEFT JOIN fees f USING (exchange)
    WHERE m.exchange <> '_all' AND m.valid
),
counted AS (SELECT *, count(*) OVER (PARTITION BY period, base_asset) AS venues FROM legs),
long_leg AS (
    SELECT * FROM counted WHERE venues >= 2
    QUALIFY row_number() OVER (PARTITION BY period, base_asset ORDER BY ma_funding_apr ASC, exchange) = 1
),
-- The short leg is chosen among the other venues, so equal MAs everywhere still give a pair.
short_leg AS (
    SELECT c.* FROM counted c
    JOIN long_leg l ON c.period = l.period AND c.base_asset = l.base_asset AND c.exchange <> l.exchange
    QUALIFY row_number() OVER (PARTITION BY c.period, c.base_asset ORDER BY c.ma_funding_apr DESC, c.exchange) = 1
),
intervals AS (
    SELECT exchange, base_asset, arg_max(funding_interval_hours, funding_time) AS hours
    FROM src_history GROUP BY exchange, base_asset
),
pairs AS (
    SELECT l.period, l.base_asset,
           l.exchange AS long_exchange, s.exchange AS short_exchange,
           l.ma_funding_apr AS long_funding_apr, s.ma_funding_apr AS short_funding_apr,
           s.ma_funding_apr - l.ma_funding_apr AS spread_apr,
           s.ma_funding_apr - l.ma_funding_apr - 2 * (l.taker_fee + s.taker_fee) * 365 / $holding_days
               AS net_spread_apr,
           il.hours AS long_interval_hours, ish.hours AS short_interval_hours,
           il.hours <> ish.hours AS intervals_differ,
           NULL::DOUBLE AS mark_price_spread,
           l.venues::INTEGER AS venues,
           l.computed_at
    FROM long_leg l JOIN short_leg s USING (period, base_asset)
    LEFT JOIN intervals il ON il.exchange = l.exchange AND il.base_asset = l.base_asset
    LEFT JOIN intervals ish ON ish.exchange = s.exchange AND ish.base_asset = s.base_asset
    WHERE l.exchange <> s.exchange
)
SELECT *, count(*) OVER (PARTITION BY base_asset, long_exchange, short_exchange)::DOUBLE AS persistence
FROM pairs
ORDER BY base_asset, period
"""


@dataclass(frozen=True)
class ArbitrageCosts:
    """Taker fees spread over a holding period, as in the live ranking (`tokens.ArbitrageConfig`)."""

    default_taker_fee: float = 0.0005
    taker_fees: dict[str, float] = field(default_factory=dict)
    holding_days: float = 7.0


@dataclass
class MaReport:
    as_of: datetime
    path: Path
    rows: int
    invalid: int
    by_source: dict[str, int]
    history_files: int
    stats_files: int


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _months(start: datetime, end: datetime) -> list[date]:
    out: list[date] = []
    at = date(start.year, start.month, 1)
    while at <= end.date():
        out.append(at)
        at = date(at.year + (at.month == 12), at.month % 12 + 1, 1)
    return out


def history_files(warehouse: Path, start: datetime, end: datetime) -> list[Path]:
    """Every venue's month files touching [start, end]."""
    root = warehouse / "funding_rate_history"
    if not root.is_dir():
        return []
    names = {f"{m:%Y-%m}.duckdb" for m in _months(start, end)}
    return sorted(p for p in layout.kind_of_table("funding_rate_history").files(warehouse) if p.name in names)


def stats_files(warehouse: Path, start: datetime, end: datetime) -> list[Path]:
    """The market_stats_1h day files of [start, end) that exist."""
    days, at = [], floor_hour(start).replace(hour=0)
    while at < end:
        path = layout.stats_1h_path(warehouse, at.date())
        if path.exists():
            days.append(path)
        at += timedelta(days=1)
    return days


def _attach_union(con: duckdb.DuckDBPyConnection, table: Table, files: Iterable[Path], view: str) -> int:
    """A temp view `view` over `table` in every file (empty with the right columns when none)."""
    files = list(files)
    body = attach_all(con, table, files, f"{view}_")
    con.execute(f"CREATE TEMP VIEW {view} AS {body}")  # sql-ok: fixed identifiers
    return len(files)


def _periods(con: duckdb.DuckDBPyConnection, name: str, periods: tuple[tuple[str, int], ...]) -> None:
    con.execute(f"CREATE TEMP TABLE {name} (period VARCHAR, hours INTEGER)")  # sql-ok: fixed identifier
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", list(periods))  # sql-ok: fixed identifier


def _insert(con: duckdb.DuckDBPyConnection, table: Table, select: str, params: dict) -> None:
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM ({select})", params)  # sql-ok


def data_end(warehouse: Path) -> datetime | None:
    """The hour after the newest data in market_stats_1h and funding_rate_history (for replay
    with the simulated clock, where wall time says nothing about the data)."""
    newest: list[datetime] = []
    stats = layout.kind_of_table("market_stats_1h").files(warehouse)
    checks = [(stats[-1:], "SELECT max(bucket_start) + INTERVAL 1 HOUR FROM market_stats_1h")] if stats else []
    by_venue: dict[str, Path] = {}
    for path in layout.kind_of_table("funding_rate_history").files(warehouse):
        by_venue[path.parent.name] = path  # files sort by month: the last one wins
    checks += [([p], "SELECT max(funding_time) FROM funding_rate_history") for p in by_venue.values()]
    for paths, sql in checks:
        for path in paths:
            with connect(path, read_only=True) as con:
                found = con.execute(sql).fetchone()[0]
            if found is not None:
                newest.append(found)
    if not newest:
        return None
    top = max(newest)
    floored = floor_hour(top)
    return floored if floored == top else floored + timedelta(hours=1)


def write_moving_averages(warehouse: Path, as_of: datetime, min_coverage: float = DEFAULT_MIN_COVERAGE) -> MaReport:
    """`funding_rate_ma` as of the hour `as_of` (module docstring for the rules)."""
    as_of = floor_hour(as_of)
    start = as_of - timedelta(hours=LONGEST_HOURS + MAX_INTERVAL_HOURS)
    hist, stats = history_files(warehouse, start, as_of), stats_files(warehouse, start, as_of)

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        _attach_union(con, FUNDING_RATE_HISTORY, hist, "src_history")
        _attach_union(con, MARKET_STATS_1H, stats, "src_stats")
        _periods(con, "ma_periods", PERIODS)
        params = {"as_of": as_of.timestamp(), "longest": LONGEST_HOURS * 3600, "min_coverage": min_coverage}
        _insert(con, FUNDING_RATE_MA, MA_SELECT, params)

    path = write_atomic(layout.latest_path(warehouse, FUNDING_RATE_MA.name), [FUNDING_RATE_MA], fill)
    with connect(path, read_only=True) as con:
        by_source = dict(con.execute("SELECT source, count(*) FROM funding_rate_ma GROUP BY 1").fetchall())
        invalid = con.execute("SELECT count(*) FROM funding_rate_ma WHERE NOT valid").fetchone()[0]
    return MaReport(as_of, path, sum(by_source.values()), invalid, by_source, len(hist), len(stats))


def write_accumulated(warehouse: Path, as_of: datetime) -> Path:
    """`accumulated_funding` as of the hour `as_of` from settled prints."""
    as_of = floor_hour(as_of)
    start = as_of - timedelta(hours=max(h for _, h in ACCUMULATION_PERIODS))
    hist = history_files(warehouse, start, as_of)

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        _attach_union(con, FUNDING_RATE_HISTORY, hist, "src_history")
        _periods(con, "acc_periods", ACCUMULATION_PERIODS)
        _insert(con, ACCUMULATED_FUNDING, ACCUMULATED_SELECT, {"as_of": as_of.timestamp()})

    return write_atomic(layout.latest_path(warehouse, ACCUMULATED_FUNDING.name), [ACCUMULATED_FUNDING], fill)


def write_arbitrage_ma(warehouse: Path, costs: ArbitrageCosts | None = None) -> Path:
    """`funding_arbitrage_ma` from the current `funding_rate_ma` file (its as_of is kept as
    `computed_at`); leg intervals are each venue's latest settled interval for the asset."""
    costs = costs or ArbitrageCosts()
    source = layout.latest_path(warehouse, FUNDING_RATE_MA.name)
    if not source.exists():
        raise FileNotFoundError(f"{source}: materialize funding_rate_ma first")
    with connect(source, read_only=True) as con:
        as_of = con.execute("SELECT max(computed_at) FROM funding_rate_ma").fetchone()[0]
    recent = history_files(warehouse, as_of - timedelta(days=2), as_of) if as_of else []

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        _attach_union(con, FUNDING_RATE_MA, [source], "src_ma")
        _attach_union(con, FUNDING_RATE_HISTORY, recent, "src_history")
        con.execute("CREATE TEMP TABLE fees (exchange VARCHAR, fee DOUBLE)")
        if costs.taker_fees:
            con.executemany("INSERT INTO fees VALUES (?, ?)", list(costs.taker_fees.items()))
        params = {"default_fee": costs.default_taker_fee, "holding_days": costs.holding_days}
        _insert(con, FUNDING_ARBITRAGE_MA, ARBITRAGE_MA_SELECT, params)

    return write_atomic(layout.latest_path(warehouse, FUNDING_ARBITRAGE_MA.name), [FUNDING_ARBITRAGE_MA], fill)


# -- reads for the checks ------------------------------------------------------------------------


def latest_connection(warehouse: Path, tables: list[str]) -> duckdb.DuckDBPyConnection:
    from funding_pipeline.warehouse import connect_files

    files = {t: [p] for t in tables if (p := layout.latest_path(warehouse, t)).exists()}
    return connect_files({t: files.get(t, []) for t in tables if t in TABLES})


def misflagged_rows(con: duckdb.DuckDBPyConnection, min_coverage: float) -> list[list[str]]:
    """MA rows whose `valid` disagrees with coverage >= min_coverage."""
    rows = con.execute(
        "SELECT exchange, base_asset, period, coverage, valid FROM funding_rate_ma "
        "WHERE valid IS DISTINCT FROM (coverage >= ?) ORDER BY 1, 2, 3 LIMIT 10",
        [min_coverage],
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


def non_finite_ma(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        "SELECT count(*) FROM funding_rate_ma WHERE NOT (isfinite(ma_funding_rate_1h) AND isfinite(ma_funding_apr) "
        "AND coverage BETWEEN 0 AND 1 AND samples > 0)"
    ).fetchone()[0]
