"""Daily OHLCV candles from CryptoCompare's `GET /data/v2/histoday`, written to `price_candles`.

Request: `fsym`, `tsym`, `limit` (1..2000; the answer holds limit + 1 candles), `toTs` (the
last candle returned is the one of the UTC day containing it). Answer (HTTP 200 even for
errors): {"Response": "Success" | "Error", "Message", "HasWarning", "Type", "RateLimit",
"Data": {"Aggregated", "TimeFrom", "TimeTo", "Data": [{"time", "high", "low", "open",
"volumefrom", "volumeto", "close", "conversionType", "conversionSymbol"}]}}. `time` is the
candle's day at 00:00 UTC in seconds; `volumefrom` is in the base coin, `volumeto` in `tsym`.
Days before a coin traded come back as all-zero candles: they are skipped, not stored.
Fixture: funding_pipeline_tests/fixtures/cryptocompare/ (README there for provenance).

The API key (optional) goes in the `authorization: Apikey <key>` header, never in the URL, so
it appears in no URL, error message or log line.

Writes go in bounded batches (`batch_days` days per request and per write), each replacing
exactly its (day, symbol) rows in the year files (`layout.candles_path`): a rerun or an
overlapping backfill rewrites those rows and never duplicates a day.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import Ctx, each_entry, req, req_decimal, req_dict, req_int, req_list
from funding_pipeline.lib.exchanges.model import ParseError, RateUnit, Venue
from funding_pipeline.lib.http.client import VenueHttp
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import replace_where
from funding_pipeline.lib.storage.schemas import PRICE_CANDLES

SOURCE = "cryptocompare"
ENDPOINT = "/data/v2/histoday"
CRYPTOCOMPARE = Venue(
    id=SOURCE,
    base_url="https://min-api.cryptocompare.com",
    doc_url="https://min-api.cryptocompare.com/documentation?key=Historical&cat=dataHistoday",
    interval_hours=None,  # not a funding venue: the spec carries timeout and pacing only
    rate_unit=RateUnit.DECIMAL,
    oi_unit="-",
    symbol_style="BTC",
    timeout_s=15.0,
    max_concurrency=2,
    min_interval_s=0.25,  # free tier: well under the documented per-second limit
)
MAX_LIMIT = 2000  # documented maximum of `limit`
DEFAULT_BATCH_DAYS = 365
DEFAULT_SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "HYPE")
DEFAULT_TSYM = "USD"
FETCH_BUDGET_S = 600.0
DAY_S = 86_400

SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("symbol", pa.string()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume_from", pa.float64()),
        ("volume_to", pa.float64()),
        ("source", pa.string()),
    ]
)
REPLACED = "NOT (day >= ? AND day <= ? AND list_contains(?, symbol))"

Sleep = Callable[[float], Awaitable[None]]


class CandleSourceError(RuntimeError):
    """CryptoCompare answered `Response: Error` (bad symbol, rate limit, bad key)."""


@dataclass(frozen=True)
class Candle:
    day: date
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume_from: Decimal
    volume_to: Decimal


@dataclass
class CandleReport:
    days: int = 0
    rows: int = 0
    batches: int = 0
    requests: int = 0
    skipped_empty: int = 0
    rejected: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def epoch_day(day: date) -> int:
    return units.utc_to_s(datetime(day.year, day.month, day.day, tzinfo=UTC))


def histoday_params(symbol: str, tsym: str, first: date, last: date) -> dict[str, Any]:
    """The request for the candles of [first, last]: limit is at least 1, so a single day asks for two."""
    days = (last - first).days + 1
    if not 1 <= days <= MAX_LIMIT:
        raise ValueError(f"{days} days do not fit one histoday request (1..{MAX_LIMIT})")
    return {"fsym": symbol, "tsym": tsym, "limit": max(1, days - 1), "toTs": epoch_day(last)}


def parse_histoday(payload: Any, *, symbol: str) -> tuple[list[Candle], int, list[ParseError]]:
    """(candles, all-zero candles skipped, malformed candles rejected with their path).

    An error answer or a malformed envelope raises: that symbol's batch failed as a whole.
    """
    ctx = Ctx(SOURCE, "histoday")
    body = req_dict(payload, ctx)
    if body.get("Response") != "Success":
        raise CandleSourceError(f"cryptocompare histoday {symbol}: {body.get('Response')}: {body.get('Message')}")
    data = req_dict(req(body, "Data", ctx), ctx.at("Data"))
    items = req_list(req(data, "Data", ctx.at("Data")), ctx.at("Data").at("Data"))
    empty = 0

    def parse_one(item: Any, at: Ctx) -> Candle | None:
        nonlocal empty
        row = req_dict(item, at)
        seconds = req_int(row, "time", at)
        if seconds % DAY_S:
            raise at.at("time").error(seconds, "a daily candle starts at 00:00 UTC")
        v = {k: req_decimal(row, k, at) for k in ("open", "high", "low", "close", "volumefrom", "volumeto")}
        if v["open"] == v["high"] == v["low"] == v["close"] == 0:
            empty += 1  # before the coin traded
            return None
        if not 0 < v["low"] <= min(v["open"], v["close"]) <= max(v["open"], v["close"]) <= v["high"]:
            raise at.error(row, "open/close outside low..high, or a non-positive price")
        day = units.s_to_utc(seconds).date()
        return Candle(day, symbol, v["open"], v["high"], v["low"], v["close"], v["volumefrom"], v["volumeto"])

    candles, rejected, _ = each_entry(enumerate(items), ctx.at("Data").at("Data"), parse_one)
    return candles, empty, rejected


def batches(first: date, last: date, batch_days: int) -> list[tuple[date, date]]:
    if batch_days < 1 or batch_days > MAX_LIMIT:
        raise ValueError(f"batch_days must be within 1..{MAX_LIMIT}")
    out, at = [], first
    while at <= last:
        end = min(last, at + timedelta(days=batch_days - 1))
        out.append((at, end))
        at = end + timedelta(days=1)
    return out


async def fetch_batch(
    http: VenueHttp, symbols: list[str], tsym: str, first: date, last: date
) -> tuple[list[Candle], int, list[ParseError]]:
    """Every symbol's candles of [first, last]; (candles, all-zero candles skipped, rejected)."""

    async def one(symbol: str):
        payload = await http.get_json(ENDPOINT, histoday_params(symbol, tsym, first, last))
        return parse_histoday(payload, symbol=symbol)

    found, empty, rejected = [], 0, []
    for candles, skipped, bad in await http.gather(symbols, one):
        found += [c for c in candles if first <= c.day <= last]
        empty += skipped
        rejected += bad
    return found, empty, rejected


def candles_table(candles: list[Candle]) -> pa.Table:
    unique = {(c.day, c.symbol): c for c in candles}
    rows = [unique[k] for k in sorted(unique)]
    return pa.table(
        {
            "day": [c.day for c in rows],
            "symbol": [c.symbol for c in rows],
            "open": [float(c.open) for c in rows],
            "high": [float(c.high) for c in rows],
            "low": [float(c.low) for c in rows],
            "close": [float(c.close) for c in rows],
            "volume_from": [float(c.volume_from) for c in rows],
            "volume_to": [float(c.volume_to) for c in rows],
            "source": [SOURCE] * len(rows),
        },
        schema=SCHEMA,
    )


def write_batch(warehouse: Path, symbols: list[str], first: date, last: date, table: pa.Table) -> list[Path]:
    """Replace the (day, symbol) rows of [first, last] x symbols, year file by year file."""
    written = []
    for year in range(first.year, last.year + 1):
        lo, hi = max(first, date(year, 1, 1)), min(last, date(year, 12, 31))
        rows = table.filter(pc.equal(pc.year(table.column("day")), year)) if table.num_rows else table
        path = layout.candles_path(warehouse, lo)
        written.append(replace_where(path, PRICE_CANDLES, REPLACED, [lo, hi, list(symbols)], rows))
    return written


def client_headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": "funding-pipeline/0.1 (+https://github.com/)"}
    if api_key:
        headers["authorization"] = f"Apikey {api_key}"
    return headers


def load_candles(
    warehouse: Path,
    symbols: list[str],
    first: date,
    last: date,
    transport: httpx.AsyncBaseTransport,
    *,
    api_key: str | None = None,
    tsym: str = DEFAULT_TSYM,
    batch_days: int = DEFAULT_BATCH_DAYS,
    sleep: Sleep = asyncio.sleep,
) -> CandleReport:
    """Fetch and store the candles of [first, last] for `symbols`, one bounded batch at a time."""
    symbols = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not symbols:
        raise ValueError("no symbols configured")
    report = CandleReport(days=(last - first).days + 1)

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, headers=client_headers(api_key)) as client:
            for lo, hi in batches(first, last, batch_days):
                http = VenueHttp(CRYPTOCOMPARE, client, deadline=time.monotonic() + FETCH_BUDGET_S, sleep=sleep)
                candles, empty, rejected = await fetch_batch(http, symbols, tsym, lo, hi)
                paths = write_batch(warehouse, symbols, lo, hi, candles_table(candles))
                report.batches += 1
                report.requests += http.requests
                report.rows += len({(c.day, c.symbol) for c in candles})
                report.skipped_empty += empty
                report.rejected += [str(e) for e in rejected]
                report.files += [str(p) for p in paths if str(p) not in report.files]

    asyncio.run(run())
    return report


# -- reads for the checks ------------------------------------------------------------------------


def duplicate_candles(con, first: date, last: date) -> list[list[str]]:
    rows = con.execute(
        "SELECT day, symbol, count(*) FROM price_candles WHERE day >= ? AND day <= ? "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 10",
        [first, last],
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


def bad_candles(con, first: date, last: date) -> list[list[str]]:
    """Candles whose open/close lie outside low..high, or with a non-positive or non-finite price."""
    rows = con.execute(
        "SELECT day, symbol, open, high, low, close FROM price_candles WHERE day >= ? AND day <= ? AND NOT ("
        "isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND low > 0 "
        "AND low <= least(open, close) AND greatest(open, close) <= high AND volume_from >= 0 AND volume_to >= 0) "
        "ORDER BY 1, 2 LIMIT 10",
        [first, last],
    ).fetchall()
    return [[str(v) for v in r] for r in rows]


def candle_files(warehouse: Path, first: date, last: date) -> list[Path]:
    paths = [layout.candles_path(warehouse, date(y, 1, 1)) for y in range(first.year, last.year + 1)]
    return [p for p in paths if p.exists()]
