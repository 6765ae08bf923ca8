"""Paradex perpetuals.

API: https://docs.paradex.trade/api/prod/markets/get-markets-summary (public REST, base
https://api.prod.paradex.trade/v1).
Endpoints: GET /markets (asset_kind, base_currency, funding_period_hours per market) joined by
`symbol` with GET /markets/summary?market=ALL (prices, rate, OI, volume; also options and spot).
History: GET /funding/data?market&start_at&end_at&page_size (+ `cursor` = previous `next`).
Rate: `funding_rate`, decimal per the market's `funding_period_hours` (default 8; not an 8h
normalisation). Funding accrues continuously: there is no settlement time and no next funding.
Open interest: `open_interest`, base units. Volume: `volume_24h`, USD.
Timestamps: `created_at` in ms. Symbols: `BTC-USD-PERP`, multipliers `KPEPE-`, `MSATS-`.
Fixtures: fixtures/paradex/{markets,markets_summary,funding_data}.*.json
"""

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import compress, repeat
from operator import eq
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    Slow,
    batched,
    build_rows,
    by_value,
    column,
    history_rows,
    make_print,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    price_columns,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
    strings,
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
    id="paradex",
    base_url="https://api.prod.paradex.trade/v1",
    doc_url="https://docs.paradex.trade/api/prod/markets/get-markets-summary",
    interval_hours=None,  # per market: funding_period_hours
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC-USD-PERP, KPEPE-USD-PERP",
    max_concurrency=4,
    min_interval_s=0.05,  # public limit 1500 requests/min per IP; this stays at 1200
)

DEFAULT_PERIOD_HOURS = Decimal(8)  # documented default when a market states no period
MARKETS, SUMMARY, FUNDING_DATA = "markets", "markets/summary", "funding/data"
# History samples the continuously published rate once per UTC hour: the earliest observation
# in the first minute of the hour.
SAMPLE = timedelta(minutes=1)
PAGE_SIZE = 100
MAX_PAGES = 5


def _results(payload: Any, endpoint: str) -> list:
    ctx = Ctx(VENUE.id, endpoint)
    return req_list(req_dict(payload, ctx).get("results"), ctx.at("results"))


def index_markets(payload: Any) -> dict[str, tuple[dict, int]]:
    """Every `/markets` entry (any asset kind) by symbol, with its index for error paths."""
    return {
        item["symbol"]: (item, i)
        for i, item in enumerate(_results(payload, MARKETS))
        if isinstance(item, dict) and isinstance(item.get("symbol"), str)
    }


def _market_ctx(i: int) -> Ctx:
    return Ctx(VENUE.id, MARKETS).at("results").at(i)


def market_period(market: dict, at: Ctx) -> tuple[Decimal, IntervalSource]:
    if market.get("funding_period_hours") is None:
        return DEFAULT_PERIOD_HOURS, IntervalSource.FIXED
    hours = req_decimal(market, "funding_period_hours", at)
    if hours <= 0:
        raise at.at("funding_period_hours").error(hours, "funding period must be positive")
    return hours, IntervalSource.MARKET_FIELD


def parse_markets_summary(payload: Any, markets: Any, *, observed_at: datetime) -> ParseResult:
    """`observed_at` is unused: Paradex funding is continuous, there is no next funding time."""
    listing = _results(markets, MARKETS)
    items = _results(payload, SUMMARY)

    def perpetuals() -> dict[str, list]:
        """build_rows' columns. The lists of the join are freed on return, before the rows are
        made: fewer young objects for the collection that the 750 new rows set off to walk."""
        # Each column is checked and converted as soon as it is read, while it is in the CPU cache.
        m_symbols = strings(column(listing, "symbol"))
        known = set(m_symbols)
        if len(known) != len(m_symbols):
            raise Slow  # a symbol listed twice: index_markets keeps the last
        perp = map(eq, opt_column(listing, "asset_kind"), repeat("PERP"))
        listed = dict(compress(zip(m_symbols, listing, strict=True), perp))
        symbols = strings(column(items, "symbol"))
        if not known.issuperset(symbols) and any(s.endswith("-PERP") for s in set(symbols).difference(known)):
            raise Slow  # a perpetual absent from /markets: the per-market path rejects it
        wanted = list(map(listed.__contains__, symbols))
        entries, kept = list(compress(items, wanted)), list(compress(symbols, wanted))
        perps = list(map(listed.__getitem__, kept))
        periods = opt_column(perps, "funding_period_hours")
        hours = by_value(periods, opt_decimals)
        if "" in hours:
            raise Slow  # present but empty: the per-market path rejects it
        interval = {p: DEFAULT_PERIOD_HOURS if h is None else h for p, h in hours.items()}
        source = {p: IntervalSource.FIXED if h is None else IntervalSource.MARKET_FIELD for p, h in hours.items()}
        bases = opt_column(perps, "base_currency")
        return {
            "symbols": kept,
            **price_columns(entries, "mark_price", "underlying_price", "funding_rate"),
            "intervals": list(map(interval.__getitem__, periods)),
            "interval_source": list(map(source.__getitem__, periods)),
            "open_interest_base": opt_decimals(opt_column(entries, "open_interest")),
            "volumes_24h_usd": opt_decimals(opt_column(entries, "volume_24h")),
            "base_hints": bases,
        }

    def fast() -> ParseResult:
        built = build_rows(VENUE, **perpetuals())
        return ParseResult(built, [], len(items) - len(built))

    def parse_one(item: Any, at: Ctx):
        item = req_dict(item, at)
        symbol = req_str(item, "symbol", at)
        if symbol not in known:
            if symbol.endswith("-PERP"):
                raise at.at("symbol").error(symbol, "perpetual absent from /markets: period unknown")
            return None  # options and spot rows of market=ALL
        market, market_i = known[symbol]
        if market.get("asset_kind") != "PERP":
            return None
        hours, source = market_period(market, _market_ctx(market_i))
        return make_row(
            VENUE,
            at,
            symbol=symbol,
            mark_price=req_decimal(item, "mark_price", at),
            index_price=opt_decimal(item, "underlying_price", at),
            rate=req_decimal(item, "funding_rate", at),
            rate_raw=item["funding_rate"],
            interval_hours=hours,
            interval_source=source,
            open_interest_base=opt_decimal(item, "open_interest", at),
            volume_24h_usd=opt_decimal(item, "volume_24h", at),
            base_hint=market.get("base_currency"),
        )

    known: dict[str, tuple[dict, int]] = {}  # filled by slow(): the fast path needs no index

    def slow() -> ParseResult:
        known.update(index_markets(markets))
        return market_rows(enumerate(items), Ctx(VENUE.id, SUMMARY).at("results"), parse_one)

    return batched(fast, slow)


def perp_periods(markets: Any) -> dict[str, tuple[Decimal, IntervalSource]]:
    return {
        symbol: market_period(market, _market_ctx(i))
        for symbol, (market, i) in index_markets(markets).items()
        if market.get("asset_kind") == "PERP"
    }


def parse_funding_data(payload: Any, *, periods: dict[str, tuple[Decimal, IntervalSource]]) -> HistoryResult:
    """One `/funding/data` page: observations of the rate, each for its row's funding period.

    Older rows carry `funding_period_hours: 0`; the market's period from /markets applies.
    """
    ctx = Ctx(VENUE.id, FUNDING_DATA).at("results")

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        symbol = req_str(item, "market", at)
        row_hours = opt_decimal(item, "funding_period_hours", at)
        if row_hours is not None and row_hours > 0:
            hours, source = row_hours, IntervalSource.MARKET_FIELD
        elif symbol in periods:
            hours, source = periods[symbol]
        else:
            raise at.at("funding_period_hours").error(row_hours, "no period in row or /markets")
        rate = req_decimal(item, "funding_rate", at)
        return make_print(
            VENUE,
            at.at("funding_rate"),
            symbol=symbol,
            funding_time=units.ms_to_utc(req_int(item, "created_at", at)),
            rate=rate,
            rate_raw=item["funding_rate"],
            interval_hours=hours,
            interval_source=source,
        )

    return history_rows(enumerate(_results(payload, FUNDING_DATA)), ctx, parse_one)


async def poll(http, observed_at: datetime) -> ParseResult:
    markets = await http.get_json("/markets")
    summary = await http.get_json("/markets/summary", {"market": "ALL"})
    return parse_markets_summary(summary, markets, observed_at=observed_at)


async def _sample(http, symbol: str, hour: datetime, periods) -> HistoryResult:
    """The first minute of one hour, following `next` until a short or empty page."""

    async def fetch(params: dict[str, Any]):
        payload = await http.get_json("/funding/data", params)
        page = parse_funding_data(payload, periods=periods)
        cursor = payload.get("next")
        last = len(payload["results"]) < PAGE_SIZE or not cursor
        more = {"market": symbol, "cursor": cursor, "page_size": PAGE_SIZE}  # the cursor holds the query
        return [p for p in page.prints if p.symbol == symbol], page.rejected, None if last else more

    first = {
        "market": symbol,
        "start_at": units.utc_to_ms(hour),
        "end_at": units.utc_to_ms(hour + SAMPLE),
        "page_size": PAGE_SIZE,
    }
    prints, rejected = await walk_pages(fetch, first, max_pages=MAX_PAGES, reject_bad_page=False)
    inside = [p for p in prints if hour <= p.funding_time < hour + SAMPLE]
    return HistoryResult([min(inside, key=lambda p: p.funding_time)] if inside else [], rejected)


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    """One observed rate per market and UTC hour in [start, end).

    Paradex publishes observations (recomputed every few seconds), never settlements; summing
    them would count funding many times. Each print is the earliest observation of its hour.
    """
    periods = perp_periods(await http.get_json("/markets"))
    wanted = [s for s in periods if symbols is None or s in symbols]
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=n) for n in range(int((end - first) / timedelta(hours=1)) + 1)]
    hours = [h for h in hours if start <= h < end]

    async def one(symbol: str) -> HistoryResult:
        return merge([await _sample(http, symbol, hour, periods) for hour in hours], start, end)

    return merge(await http.gather(wanted, one), start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
