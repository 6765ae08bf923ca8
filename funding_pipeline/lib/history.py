"""Settled funding prints per venue and day: fetched from the venue's history endpoint, or
derived from the snapshots the collection stored, and written to `funding_rate_history`.

One file per venue and month (`layout.history_path`); a day is rewritten copy-on-write with
`replace_where` (keep the month's other days, add this day's prints), so rerunning a day gives
identical rows and never duplicates one. Prints are keyed on (exchange, symbol, funding_time):
one row per key, the first the venue module returned.

Venues without a history endpoint (`Exchange.history is None`) get their prints from
`market_snapshots` (SNAPSHOT_PRINTS_SQL below, documented in docs/history.md):
a market's settled print at boundary B is the last snapshot observed before B whose
`next_funding_at` is B, taken only when that snapshot is at most `MAX_STALENESS` old at B;
its interval is the time since the market's previous boundary (looked up to a day back), or,
for the first boundary seen, the snapshot's `settlement_interval_hours` (how often the market
pays) when that is at most 24 h. The rate stored is the amount settled at B: the snapshot's
per-hour rate times that interval.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.exchanges.fields import MAX_ABS_RATE_1H
from funding_pipeline.lib.exchanges.model import Exchange, FundingPrint, HistoryResult
from funding_pipeline.lib.http.client import VenueHttp
from funding_pipeline.lib.http.replay import ReplayTransport, load_cassettes
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import replace_where
from funding_pipeline.lib.storage.schemas import FUNDING_RATE_HISTORY
from funding_pipeline.lib.symbols import normalize
from funding_pipeline.warehouse import connect_files

SOURCE_ENDPOINT = "history_endpoint"
SOURCE_SNAPSHOTS = "snapshots"
DAY = timedelta(days=1)
# A whole day of a venue's history, every page, with the venue's own pacing: generous.
FETCH_BUDGET_S = 3600.0
# Derived prints: the last snapshot before a boundary must be at most this old at the boundary.
MAX_STALENESS = timedelta(minutes=5)
MAX_SETTLEMENT_HOURS = 24.0
USER_AGENT = "funding-pipeline/0.1 (+https://github.com/)"
TS = pa.timestamp("us", tz="UTC")

HISTORY_SCHEMA = pa.schema(
    [
        ("funding_time", TS),
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("base_asset", pa.string()),
        ("funding_rate", pa.float64()),
        ("funding_rate_raw", pa.string()),
        ("funding_interval_hours", pa.float64()),
        ("interval_source", pa.string()),
        ("funding_rate_1h", pa.float64()),
        ("funding_apr", pa.float64()),
        ("source", pa.string()),
    ]
)

OUTSIDE_DAY = "NOT (funding_time >= to_timestamp(?) AND funding_time < to_timestamp(?))"

Sleep = Callable[[float], Awaitable[None]]


async def no_sleep(_seconds: float) -> None:
    """Replay needs no pacing: the cassettes answer at once."""


@dataclass
class DayReport:
    """What one (day, venue) partition wrote and what it refused."""

    exchange: str
    day: date
    source: str
    rows: int = 0
    symbols: int = 0
    requests: int = 0
    rejected: list[str] = field(default_factory=list)
    path: Path | None = None


def source_transport(source: str, replay_dir: Path, folder: str) -> tuple[httpx.AsyncBaseTransport, Sleep]:
    """The transport for one venue (or `cryptocompare`) and the pause to pace with: the network
    and real sleeps live, the cassettes of `<replay_dir>/<folder>/` (poll 0) and no pauses in replay."""
    if source == "replay":
        return ReplayTransport(load_cassettes(replay_dir / folder), 0), no_sleep
    return httpx.AsyncHTTPTransport(retries=0), asyncio.sleep


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + DAY


async def fetch_history(
    exchange: Exchange,
    start: datetime,
    end: datetime,
    transport: httpx.AsyncBaseTransport,
    *,
    sleep: Sleep = asyncio.sleep,
    symbols: list[str] | None = None,
) -> tuple[HistoryResult, int]:
    """The venue's own `history` over [start, end) through one client; (result, requests made)."""
    if exchange.history is None:
        raise ValueError(f"{exchange.venue.id} has no history endpoint; derive its prints from snapshots")
    async with httpx.AsyncClient(
        transport=transport, headers={"user-agent": USER_AGENT}, follow_redirects=True
    ) as client:
        http = VenueHttp(exchange.venue, client, deadline=time.monotonic() + FETCH_BUDGET_S, sleep=sleep)
        result = await exchange.history(http, start, end, symbols)
        return result, http.requests


def prints_table(
    prints: list[FundingPrint], start: datetime, end: datetime, source: str = SOURCE_ENDPOINT
) -> tuple[pa.Table, list[str]]:
    """Arrow rows for `funding_rate_history`: one per (exchange, symbol, funding_time) in [start, end),
    sorted; derived units from `lib.units`. Prints beyond the per-hour cap, with a non-positive
    interval or a symbol that does not normalize are refused with their reason."""
    seen: set[tuple[str, str, datetime]] = set()
    cols: dict[str, list] = {name: [] for name in HISTORY_SCHEMA.names}
    refused: list[str] = []
    for p in sorted(prints, key=lambda p: (p.funding_time, p.symbol)):
        key = (p.exchange, p.symbol, p.funding_time)
        if key in seen or not start <= p.funding_time < end:
            continue
        seen.add(key)
        where = f"{p.exchange} {p.symbol}@{p.funding_time.isoformat()}"
        if p.funding_interval_hours <= 0:
            refused.append(f"{where}: interval {p.funding_interval_hours} h")
            continue
        per_hour = units.rate_1h(p.funding_rate, p.funding_interval_hours)
        cap = rate_cap(p.exchange)
        if abs(per_hour) > cap:
            refused.append(f"{where}: rate {p.funding_rate_raw} is beyond the venue cap of {cap}/h")
            continue
        try:
            base = normalize(p.exchange, p.symbol).base_asset
        except ValueError as exc:
            refused.append(f"{where}: {exc}")
            continue
        row = (
            p.funding_time,
            p.exchange,
            p.symbol,
            base,
            float(p.funding_rate),
            p.funding_rate_raw,
            float(p.funding_interval_hours),
            str(p.interval_source.value),
            float(per_hour),
            float(units.apr(per_hour)),
            source,
        )
        for name, value in zip(HISTORY_SCHEMA.names, row, strict=True):
            cols[name].append(value)
    return pa.table(cols, schema=HISTORY_SCHEMA), refused


def write_day(warehouse: Path, exchange_id: str, day: date, rows: pa.Table) -> Path:
    """Replace one day of one venue in its month file (copy-on-write)."""
    start, end = day_window(day)
    return replace_where(
        layout.history_path(warehouse, exchange_id, day),
        FUNDING_RATE_HISTORY,
        OUTSIDE_DAY,
        [start.timestamp(), end.timestamp()],
        rows,
    )


def history_day(
    warehouse: Path,
    exchange: Exchange,
    day: date,
    transport: httpx.AsyncBaseTransport,
    *,
    sleep: Sleep = asyncio.sleep,
) -> DayReport:
    """Fetch one venue's settled prints of one UTC day from its endpoint and store them."""
    start, end = day_window(day)
    result, requests = asyncio.run(fetch_history(exchange, start, end, transport, sleep=sleep))
    rows, refused = prints_table(result.prints, start, end)
    report = DayReport(exchange.venue.id, day, SOURCE_ENDPOINT, requests=requests)
    report.rejected = [str(e) for e in result.rejected] + refused
    report.path = write_day(warehouse, exchange.venue.id, day, rows)
    report.rows, report.symbols = rows.num_rows, len(set(rows.column("symbol").to_pylist()))
    return report


# -- venues without a history endpoint: prints derived from market_snapshots -----------------

SNAPSHOT_PRINTS_SQL = """
WITH last_before AS (
    -- the newest snapshot before each (market, boundary) the market announced
    SELECT exchange, symbol, base_asset, next_funding_at AS boundary,
           arg_max(observed_at, observed_at) AS observed_at,
           arg_max(funding_rate_1h, observed_at) AS rate_1h,
           arg_max(funding_rate_raw, observed_at) AS rate_raw,
           arg_max(settlement_interval_hours, observed_at) AS stated_hours
    FROM market_snapshots
    WHERE exchange = ? AND next_funding_at IS NOT NULL AND observed_at < next_funding_at
      AND observed_at >= to_timestamp(?) AND observed_at < to_timestamp(?)
    GROUP BY exchange, symbol, base_asset, next_funding_at
),
spaced AS (
    SELECT *, (epoch(boundary) - epoch(lag(boundary) OVER (PARTITION BY exchange, symbol ORDER BY boundary)))
              / 3600.0 AS gap_hours
    FROM last_before
),
settled AS (
    SELECT *, CASE WHEN gap_hours > 0 AND gap_hours <= ? THEN gap_hours
                   WHEN gap_hours IS NULL AND stated_hours <= ? THEN stated_hours END AS hours
    FROM spaced
    WHERE epoch(boundary) - epoch(observed_at) <= ?
)
SELECT boundary AS funding_time, exchange, symbol, base_asset,
       rate_1h * hours AS funding_rate, rate_raw AS funding_rate_raw,
       hours AS funding_interval_hours, 'derived' AS interval_source,
       rate_1h AS funding_rate_1h, rate_1h * 8760 AS funding_apr, ? AS source
FROM settled
WHERE boundary >= to_timestamp(?) AND boundary < to_timestamp(?) AND hours IS NOT NULL
  AND abs(rate_1h) <= ?
ORDER BY funding_time, symbol
"""


def snapshot_files(warehouse: Path, start: datetime, end: datetime) -> list[Path]:
    """Closed chunk files of [start, end), hour by hour."""
    files: list[Path] = []
    hour = start
    while hour < end:
        files.extend(layout.hour_files(warehouse, hour, layout.chunk_path))
        hour += timedelta(hours=1)
    return files


def derived_prints(warehouse: Path, exchange_id: str, day: date) -> pa.Table:
    """A day of settled prints of `exchange_id` from its snapshots (module docstring rule).

    Snapshots are read from a day before `day` (to find each first boundary's predecessor)
    to the end of `day`.
    """
    start, end = day_window(day)
    lookback = start - DAY
    files = snapshot_files(warehouse, lookback, end)
    if not files:
        return HISTORY_SCHEMA.empty_table()
    con = connect_files({"market_snapshots": files})
    try:
        params = [
            exchange_id,
            lookback.timestamp(),
            end.timestamp(),
            MAX_SETTLEMENT_HOURS,
            MAX_SETTLEMENT_HOURS,
            MAX_STALENESS.total_seconds(),
            SOURCE_SNAPSHOTS,
            start.timestamp(),
            end.timestamp(),
            float(rate_cap(exchange_id)),
        ]
        table = con.execute(SNAPSHOT_PRINTS_SQL, params).to_arrow_table()
    finally:
        con.close()
    return table.cast(HISTORY_SCHEMA)


def derived_day(warehouse: Path, exchange_id: str, day: date) -> DayReport:
    rows = derived_prints(warehouse, exchange_id, day)
    report = DayReport(exchange_id, day, SOURCE_SNAPSHOTS)
    report.path = write_day(warehouse, exchange_id, day, rows)
    report.rows, report.symbols = rows.num_rows, len(set(rows.column("symbol").to_pylist()))
    return report


# -- reads for the checks ------------------------------------------------------------------------


def history_connection(warehouse: Path, exchange_ids: list[str], start: datetime, end: datetime):
    """Views over the month files of `exchange_ids` touching [start, end)."""
    months = sorted({date(d.year, d.month, 1) for d in _days(start - DAY, end)})  # + the print before
    files = [layout.history_path(warehouse, e, m) for e in exchange_ids for m in months]
    return connect_files({"funding_rate_history": [f for f in files if f.exists()]})


def _days(start: datetime, end: datetime) -> list[date]:
    out, at = [], start
    while at < end:
        out.append(at.date())
        at += DAY
    return out or [start.date()]


def duplicate_prints(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> list[list[str]]:
    rows = con.execute(
        "SELECT exchange, symbol, funding_time, count(*) AS n FROM funding_rate_history "
        "WHERE funding_time >= to_timestamp(?) AND funding_time < to_timestamp(?) "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY n DESC, exchange, symbol LIMIT 10",
        [start.timestamp(), end.timestamp()],
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


def rate_cap(exchange_id: str) -> Decimal:
    """The per-hour bound a settled print of this venue must respect."""
    venue = all_exchanges()[exchange_id].venue
    return venue.rate_cap_1h if venue.rate_cap_1h is not None else MAX_ABS_RATE_1H


def rates_beyond_cap(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, venues: list[str]
) -> list[list[str]]:
    """Prints of `venues` beyond their venue's cap or with a non-positive interval (first 10)."""
    out: list[list[str]] = []
    for venue in venues:
        rows = con.execute(
            "SELECT exchange, symbol, funding_time, funding_rate_1h FROM funding_rate_history "
            "WHERE exchange = ? AND funding_time >= to_timestamp(?) AND funding_time < to_timestamp(?) "
            "AND NOT (abs(funding_rate_1h) <= ? AND funding_interval_hours > 0) ORDER BY 2, 3 LIMIT 10",
            [venue, start.timestamp(), end.timestamp(), float(rate_cap(venue))],
        ).fetchall()
        out += [[str(v) for v in r] for r in rows]
    return out[:10]


def gaps(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Per venue and symbol, how many times consecutive prints in [start, end) (and the print
    before `start`) lie more than two intervals apart (the later print's interval)."""
    rows = con.execute(
        "WITH spaced AS (SELECT exchange, symbol, funding_time, funding_interval_hours, "
        "  epoch(funding_time) - epoch(lag(funding_time) OVER (PARTITION BY exchange, symbol ORDER BY funding_time))"
        "  AS gap_s FROM funding_rate_history WHERE funding_time < to_timestamp(?)) "
        "SELECT exchange, symbol, count(*) FROM spaced "
        "WHERE funding_time >= to_timestamp(?) AND gap_s > 2 * funding_interval_hours * 3600 "
        "GROUP BY ALL ORDER BY 1, 2",
        [end.timestamp(), start.timestamp()],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for exchange, symbol, n in rows:
        out.setdefault(exchange, {})[symbol] = int(n)
    return out
