"""dYdX v4 perpetuals, read from the public Indexer.

API: https://docs.dydx.xyz/indexer-client/http (v4-documentation: get_perpetual_markets, get_historical_funding)
Endpoints (GET; numbers are strings, times ISO-8601 UTC):
  /v4/perpetualMarkets                 {"markets": {ticker: market}}: an object keyed by ticker
  /v4/historicalFunding/{ticker}?limit&effectiveBeforeOrAt   settled hourly rates, newest first
Rate: `nextFundingRate` (predicted) and history `rate`, decimal per 1 hour (funding ticks every hour).
Prices: no mark price exists; dYdX marks to `oraclePrice`, so it is both mark and index.
Open interest: `openInterest` in base units. Volume: `volume24H`, USD notional.
Next funding: not published; the next full UTC hour.
Fixtures: fixtures/dydx/{perpetualMarkets,historicalFunding_BTC-USD}.*.json
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    history_rows,
    make_row,
    market_rows,
    opt_decimal,
    req_decimal,
    req_dict,
    req_list,
    req_str,
)
from funding_pipeline.lib.exchanges.history import merge, older_page_from, walk_pages
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
    id="dydx",
    base_url="https://indexer.dydx.trade",
    doc_url="https://docs.dydx.xyz/indexer-client/http#get-perpetual-markets",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC-USD",
    max_concurrency=4,
    min_interval_s=0.1,  # Indexer REST: 100 requests / 10 s per IP
)

MARKETS, HISTORY = "perpetualMarkets", "historicalFunding"
PAGE_LIMIT = 1000  # the Indexer's API_LIMIT_V4
MAX_PAGES = 100


def _markets(payload: Any) -> tuple[dict, Ctx]:
    ctx = Ctx(VENUE.id, MARKETS)
    markets = req_dict(req_dict(payload, ctx).get("markets"), ctx.at("markets"))
    return markets, ctx.at("markets")


def parse_perpetual_markets(payload: Any, *, observed_at: datetime) -> ParseResult:
    markets, ctx = _markets(payload)
    next_funding = units.next_boundary(observed_at, VENUE.interval_hours)

    def parse_one(item: Any, at: Ctx):
        item = req_dict(item, at)
        if req_str(item, "status", at) != "ACTIVE":
            return None  # PAUSED, CANCEL_ONLY, POST_ONLY, INITIALIZING, FINAL_SETTLEMENT
        oracle = req_decimal(item, "oraclePrice", at)
        return make_row(
            VENUE,
            at,
            symbol=req_str(item, "ticker", at),
            mark_price=oracle,
            index_price=oracle,
            rate=req_decimal(item, "nextFundingRate", at),
            rate_raw=item["nextFundingRate"],
            open_interest_base=req_decimal(item, "openInterest", at),
            volume_24h_usd=opt_decimal(item, "volume24H", at),
            next_funding_at=next_funding,
        )

    return market_rows(markets.items(), ctx, parse_one)


async def poll(http, observed_at: datetime) -> ParseResult:
    return parse_perpetual_markets(await http.get_json(f"/v4/{MARKETS}"), observed_at=observed_at)


def parse_historical_funding(payload: Any) -> HistoryResult:
    """One page of settled hourly rates (newest first); `effectiveAt` is kept as published."""
    ctx = Ctx(VENUE.id, HISTORY)
    rows = req_list(req_dict(payload, ctx).get("historicalFunding"), ctx.at("historicalFunding"))

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        try:
            effective_at = units.iso_to_utc(req_str(item, "effectiveAt", at))
        except ValueError as exc:
            raise at.at("effectiveAt").error(item["effectiveAt"], str(exc)) from None
        return FundingPrint(
            exchange=VENUE.id,
            symbol=req_str(item, "ticker", at),
            funding_time=effective_at,
            funding_rate=req_decimal(item, "rate", at),
            funding_rate_raw=str(item["rate"]),
            funding_interval_hours=VENUE.interval_hours,
            interval_source=IntervalSource.FIXED,
        )

    return history_rows(enumerate(rows), ctx.at("historicalFunding"), parse_one)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _history_one(http, ticker: str, start: datetime, end: datetime) -> HistoryResult:
    path = f"/v4/{HISTORY}/{quote(ticker, safe='')}"

    async def fetch(before: datetime):
        params = {"limit": str(PAGE_LIMIT), "effectiveBeforeOrAt": _iso(before)}
        page = parse_historical_funding(await http.get_json(path, params))
        oldest = older_page_from(page.prints, page_limit=PAGE_LIMIT, start=start)
        return page.prints, page.rejected, None if oldest is None else oldest - timedelta(milliseconds=1)

    return HistoryResult(*await walk_pages(fetch, end - timedelta(milliseconds=1), max_pages=MAX_PAGES))


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    """Every listed market (any status: paused and settled markets have history too), or `symbols`."""
    tickers = list(symbols) if symbols is not None else list(_markets(await http.get_json(f"/v4/{MARKETS}"))[0])
    return merge(await http.gather(tickers, lambda t: _history_one(http, t, start, end)), start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
