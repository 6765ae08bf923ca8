"""Extended (ex-X10) perpetuals, Starknet deployment.

API: https://api.docs.extended.exchange (#get-markets, #get-funding-rates-history)
Endpoints: GET /api/v1/info/markets (every market with a nested `marketStats`);
history: GET /api/v1/info/{market}/funding?startTime&endTime&limit&cursor (per market).
Rate: `marketStats.fundingRate`, decimal per 1 hour (fixed interval: funding is charged hourly);
history `f` is the same hourly rate, settled at `T`.
Next funding: `marketStats.nextFundingRate`, which despite its name is a timestamp (ms).
Open interest: `openInterest` in USD and `openInterestBase` in base units, both kept as sent.
Volume: `dailyVolume`, USD. Timestamps: int ms. Skipped: markets whose `status` is not ACTIVE
or whose `active` is false.
Symbols: `name` (`BTC-USD`, `1000PEPE-USD`); base asset in `assetName`.
Fixtures: fixtures/extended/api_v1_info_{markets,market_funding}.*.json
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    history_rows,
    make_print,
    make_row,
    market_rows,
    opt_decimal,
    opt_time,
    req,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
)
from funding_pipeline.lib.exchanges.history import merge, walk_pages
from funding_pipeline.lib.exchanges.model import (
    Exchange,
    FundingPrint,
    HistoryResult,
    IntervalSource,
    ParseResult,
    RateUnit,
    Venue,
)

VENUE = Venue(
    id="extended",
    base_url="https://api.starknet.extended.exchange",
    doc_url="https://api.docs.extended.exchange",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="usd",
    symbol_style="BTC-USD, 1000PEPE-USD",
    max_concurrency=4,  # default tier: 1 000 requests per minute
    min_interval_s=0.1,
)
MARKETS = "/api/v1/info/markets"
FUNDING = "/api/v1/info/{market}/funding"
FUNDING_ENDPOINT = "info/{market}/funding"
PAGE_SIZE = 1000
MAX_PAGES = 100


def _data(payload: Any, ctx: Ctx) -> Any:
    body = req_dict(payload, ctx)
    if body.get("status") != "OK":
        raise ctx.at("status").error(body.get("status"), "Extended answered without status OK")
    return req(body, "data", ctx)


def _markets(payload: Any, ctx: Ctx) -> list:
    items = req_list(_data(payload, ctx), ctx.at("data"))
    if not items:
        raise ctx.at("data").error(items, "no markets in the answer")
    return items


def _is_live(market: dict) -> bool:
    return market.get("status") == "ACTIVE" and market.get("active") is not False


def parse_markets(payload: Any, *, observed_at: datetime) -> ParseResult:
    ctx = Ctx(VENUE.id, "info/markets")

    def parse_one(item: Any, at: Ctx):
        market = req_dict(item, at)
        if not _is_live(market):
            return None
        s_at = at.at("marketStats")
        stats = req_dict(req(market, "marketStats", at), s_at)
        asset = market.get("assetName")
        return make_row(
            VENUE,
            at,
            symbol=req_str(market, "name", at),
            mark_price=req_decimal(stats, "markPrice", s_at),
            index_price=opt_decimal(stats, "indexPrice", s_at),
            rate=req_decimal(stats, "fundingRate", s_at),
            rate_raw=stats["fundingRate"],
            open_interest_base=opt_decimal(stats, "openInterestBase", s_at),
            open_interest_usd=opt_decimal(stats, "openInterest", s_at),
            volume_24h_usd=opt_decimal(stats, "dailyVolume", s_at),
            # Named like a rate, holds the next settlement time in ms.
            next_funding_at=opt_time(stats, "nextFundingRate", s_at, units.ms_to_utc),
            base_hint=asset if isinstance(asset, str) and asset else None,
        )

    return market_rows(enumerate(_markets(payload, ctx)), ctx.at("data"), parse_one)


async def poll(http, observed_at: datetime) -> ParseResult:
    return parse_markets(await http.get_json(MARKETS), observed_at=observed_at)


def parse_funding(payload: Any, *, start: datetime, end: datetime) -> tuple[HistoryResult, str | None, int]:
    """Prints in [start, end) of one page, the next `pagination.cursor` and the row count."""
    ctx = Ctx(VENUE.id, FUNDING_ENDPOINT)
    items = req_list(_data(payload, ctx), ctx.at("data"))

    def parse_one(item: Any, at: Ctx) -> FundingPrint | None:
        row = req_dict(item, at)
        when = units.ms_to_utc(req_int(row, "T", at))
        if not start <= when < end:
            return None
        rate = req_decimal(row, "f", at)
        return make_print(
            VENUE,
            at.at("f"),
            symbol=req_str(row, "m", at),
            funding_time=when,
            rate=rate,
            rate_raw=row["f"],
            interval_hours=VENUE.interval_hours,
            interval_source=IntervalSource.FIXED,
        )

    pagination = req_dict(payload, ctx).get("pagination")
    cursor = pagination.get("cursor") if isinstance(pagination, dict) else None
    result = history_rows(enumerate(items), ctx.at("data"), parse_one)
    return result, (str(cursor) if cursor not in (None, "") else None), len(items)


async def _market_history(http, market: str, start: datetime, end: datetime, page_size: int) -> HistoryResult:
    path = FUNDING.format(market=market)
    params = {"startTime": units.utc_to_ms(start), "endTime": units.utc_to_ms(end), "limit": page_size}

    async def fetch(cursor: str | None):
        payload = await http.get_json(path, {**params, "cursor": cursor} if cursor else params)
        page, next_cursor, count = parse_funding(payload, start=start, end=end)
        last = not next_cursor or next_cursor == cursor or count < page_size
        return page.prints, page.rejected, None if last else next_cursor

    cap = Ctx(VENUE.id, FUNDING_ENDPOINT, f"$[{market}]")
    return HistoryResult(*await walk_pages(fetch, None, max_pages=MAX_PAGES, cap=cap))


async def history(http, start: datetime, end: datetime, symbols=None, *, page_size: int = PAGE_SIZE) -> HistoryResult:
    """Hourly settlements of every ACTIVE market (or the market `name`s in `symbols`)."""
    if symbols is None:
        ctx = Ctx(VENUE.id, "info/markets")
        items = _markets(await http.get_json(MARKETS), ctx)
        symbols = [m["name"] for m in items if isinstance(m, dict) and _is_live(m) and isinstance(m.get("name"), str)]
    parts = await http.gather(list(symbols), lambda m: _market_history(http, m, start, end, page_size))
    return merge(parts, start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
