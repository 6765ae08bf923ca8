"""Hibachi perpetuals (public data host, GET, no auth).

API: https://api-doc.hibachi.xyz/ (Postman collection); SDK: github.com/hibachi-xyz/hibachi_sdk
Endpoints:
  /market/exchange-info                   futureContracts[]: symbol, status (LIVE), underlyingSymbol
  /market/data/prices?symbol=             markPrice, spotPrice (index), fundingRateEstimation
  /market/data/stats?symbol=              volume24h (USDT notional)
  /market/data/open-interest?symbol=      totalQuantity (base units)
  /market/data/funding-rates?symbol=&startTime=&endTime=&limit=&offset=   settled history
No all-markets endpoint carries funding, so every LIVE market costs three calls.
Rate: `estimatedFundingRate`, a decimal for the coming settlement. Interval: 1 hour (FIXED): the
docs said 8 h (00/08/16 UTC) until 2026, settlements since mid-2026 are hourly (docs/venues/hibachi.md).
History prints take their interval from the spacing of settlements, so 8-hourly years stay 8 h.
Timestamps: unix seconds (`nextFundingTimestamp`, `fundingTimestamp`).
Fixtures: fixtures/hibachi/market_{exchange-info,data_prices_*,data_stats_*,data_open-interest*,
data_funding-rates_*}.*.json
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    Slow,
    batched,
    build_rows,
    column,
    decimals,
    dicts,
    history_rows,
    listed,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    opt_epoch_times,
    opt_time,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
    strings,
)
from funding_pipeline.lib.exchanges.history import merge, respace, unique_ascending, walk_pages, whole_seconds
from funding_pipeline.lib.exchanges.model import (
    Exchange,
    FundingPrint,
    HistoryResult,
    IntervalSource,
    ParseResult,
    RateUnit,
    Venue,
)
from funding_pipeline.lib.http.errors import HttpStatusError

VENUE = Venue(
    id="hibachi",
    base_url="https://data-api.hibachi.xyz",
    doc_url="https://api-doc.hibachi.xyz/",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC/USDT-P",
    # No published limit (ccxt throttles to 10/s by default). 25/s at most, 6 in flight:
    # 50 markets = 151 calls in about 6 s; today's ~15 LIVE markets take under 2 s.
    max_concurrency=6,
    min_interval_s=0.04,
)

INFO, PRICES, STATS, OI, FUNDING = "exchange-info", "prices", "stats", "open-interest", "funding-rates"
PATHS = {
    INFO: "/market/exchange-info",
    PRICES: "/market/data/prices",
    STATS: "/market/data/stats",
    OI: "/market/data/open-interest",
    FUNDING: "/market/data/funding-rates",
}
PER_MARKET = (PRICES, STATS, OI)
HISTORY_LIMIT = 100  # larger limits are served as 100
MAX_PAGES = 50
MAX_INTERVAL = timedelta(hours=8)  # longest interval Hibachi has used: fetch this far before `start`


def parse_exchange_info(payload: Any) -> tuple[list[dict], ParseResult]:
    """LIVE contracts; CLOSED (delisted) ones are counted as skipped, malformed ones rejected."""
    ctx = Ctx(VENUE.id, INFO).at("futureContracts")
    items = req_list(req_dict(payload, ctx).get("futureContracts"), ctx)
    return listed(items, ctx, "symbol", "status", "LIVE")


def parse_market_data(contracts: list[dict], answers: list[Any], *, observed_at: datetime) -> ParseResult:
    """LIVE contracts and the answers gathered for them, `PER_MARKET` per contract in its order
    (an `HttpStatusError` where a call failed) -> one row per market. Taken as gathered: no
    per-market tuples for the fast path to split again."""
    del observed_at  # Hibachi publishes nextFundingTimestamp itself
    ctx = Ctx(VENUE.id, "prices+stats+open-interest")
    width = len(PER_MARKET)

    def market_columns() -> dict[str, list]:
        """build_rows' columns. The answers split per endpoint are freed on return, before the rows
        are made: fewer young objects for the collection that the new rows set off to walk."""
        if len(answers) != width * len(contracts):
            raise Slow
        prices, stats, ois = (dicts(answers[k::width]) for k in range(width))  # a failed call is no dict
        # Each column is checked and converted as soon as it is read, while its values are still
        # in the CPU cache (these answers are 4,000 small documents scattered in memory).
        symbols = strings(column(contracts, "symbol"))
        if len(set(symbols)) != len(symbols):
            raise Slow  # listed twice: the per-market path keeps the last answers
        bases = opt_column(contracts, "underlyingSymbol")
        if set(map(type, bases)) != {str}:
            bases = [b if isinstance(b, str) else None for b in bases]

        def for_symbols(answered: list) -> None:
            got = opt_column(answered, "symbol")
            if got != symbols and any(g not in (None, s) for g, s in zip(got, symbols, strict=True)):
                raise Slow  # an answer for another market: the per-market path rejects it

        for_symbols(prices)
        marks = decimals(column(prices, "markPrice"))
        spots = opt_decimals(opt_column(prices, "spotPrice"))
        est = dicts(column(prices, "fundingRateEstimation"))
        raw = column(est, "estimatedFundingRate")
        rates = decimals(raw)
        next_at = opt_epoch_times(opt_column(est, "nextFundingTimestamp"), units.s_to_utc)
        for_symbols(stats)
        volumes = opt_decimals(opt_column(stats, "volume24h"))
        return {
            "symbols": symbols,
            "mark_prices": marks,
            "index_prices": spots,
            "rates": rates,
            "rates_raw": raw,
            "open_interest_base": opt_decimals(opt_column(ois, "totalQuantity")),
            "volumes_24h_usd": volumes,
            "next_funding_at": next_at,
            "base_hints": bases,
        }

    def fast() -> ParseResult:
        return ParseResult(build_rows(VENUE, **market_columns()))

    def parse_one(item: tuple[dict, Any, Any, Any], at: Ctx):
        contract, prices, stats, oi = item
        symbol = req_str(contract, "symbol", at)
        p_at, s_at, o_at = at.at(PRICES), at.at(STATS), at.at(OI)  # PER_MARKET, in its order
        prices, stats, oi = req_dict(prices, p_at), req_dict(stats, s_at), req_dict(oi, o_at)
        for body, b_at in ((prices, p_at), (stats, s_at)):
            if body.get("symbol") not in (None, symbol):
                raise b_at.at("symbol").error(body["symbol"], f"answer for another market than {symbol}")
        est_at = p_at.at("fundingRateEstimation")
        est = req_dict(prices.get("fundingRateEstimation"), est_at)
        base = contract.get("underlyingSymbol")
        return make_row(
            VENUE,
            at,
            symbol=symbol,
            mark_price=req_decimal(prices, "markPrice", p_at),
            index_price=opt_decimal(prices, "spotPrice", p_at),
            rate=req_decimal(est, "estimatedFundingRate", est_at),
            rate_raw=est["estimatedFundingRate"],
            open_interest_base=opt_decimal(oi, "totalQuantity", o_at),
            volume_24h_usd=opt_decimal(stats, "volume24h", s_at),
            next_funding_at=opt_time(est, "nextFundingTimestamp", est_at, units.s_to_utc),
            base_hint=base if isinstance(base, str) else None,
        )

    def slow() -> ParseResult:
        # A 4xx for one market rejects that market; its symbol keys the rows' error paths.
        result, markets = ParseResult(), {}
        for i, contract in enumerate(contracts):
            got = answers[width * i : width * i + width]
            failed = [(e, a) for e, a in zip(PER_MARKET, got, strict=True) if isinstance(a, HttpStatusError)]
            if failed:
                at = Ctx(VENUE.id, failed[0][0]).at(contract["symbol"])
                result.rejected.append(at.error(None, str(failed[0][1])))
            else:
                markets[contract["symbol"]] = (contract, *got)
        result.extend(market_rows(markets.items(), ctx, parse_one))
        return result

    return batched(fast, slow)


async def _live(http) -> tuple[list[dict], ParseResult]:
    return parse_exchange_info(await http.get_json(PATHS[INFO]))


async def poll(http, observed_at: datetime) -> ParseResult:
    contracts, result = await _live(http)
    calls = [(c, e) for c in contracts for e in PER_MARKET]
    # Retryable failures still fail the poll; a 4xx comes back as its error, for that market.
    answers = await http.gather(
        calls, lambda ce: http.get_json(PATHS[ce[1]], {"symbol": ce[0]["symbol"]}), client_errors=True
    )
    result.extend(parse_market_data(contracts, answers, observed_at=observed_at))
    return result


def parse_funding_rates(payload: Any, *, symbol: str) -> HistoryResult:
    """One page of settlements. Each print carries the venue's current interval until
    `_history_one` replaces it with the time between settlements."""
    ctx = Ctx(VENUE.id, FUNDING).at("data")
    items = req_list(req_dict(payload, ctx).get("data"), ctx)

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        return FundingPrint(
            exchange=VENUE.id,
            symbol=symbol,
            funding_time=units.s_to_utc(req_int(item, "fundingTimestamp", at)),
            funding_rate=req_decimal(item, "fundingRate", at),
            funding_rate_raw=str(item["fundingRate"]),
            funding_interval_hours=VENUE.interval_hours,
            interval_source=IntervalSource.FIXED,
        )

    return history_rows(enumerate(items), ctx, parse_one)


async def _history_one(http, symbol: str, start: datetime, end: datetime) -> HistoryResult:
    lookback = start - MAX_INTERVAL  # one earlier settlement to space the first one from
    window = {"symbol": symbol, "startTime": units.utc_to_s(lookback), "endTime": units.utc_to_s(end)}
    seen: set[datetime] = set()

    async def fetch(offset: int):
        params = {**window, "limit": HISTORY_LIMIT, "offset": offset}
        page = parse_funding_rates(await http.get_json(PATHS[FUNDING], params), symbol=symbol)
        new = list({p.funding_time: p for p in page.prints if p.funding_time not in seen}.values())
        seen.update(p.funding_time for p in new)
        # short or empty page: the end; no new rows: offset ignored; older than needed: done
        last = len(page.prints) < HISTORY_LIMIT or not new or min(p.funding_time for p in new) < lookback
        return new, page.rejected, None if last else offset + HISTORY_LIMIT

    prints, rejected = await walk_pages(fetch, 0, max_pages=MAX_PAGES, reject_bad_page=False)
    # Interval = time since the settlement before (the oldest takes the time to the next one);
    # a lone print keeps the venue's interval.
    return HistoryResult(respace(unique_ascending(prints), oldest_takes_next=True, gap=whole_seconds), rejected)


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    """Settled prints in [start, end) for every LIVE market (or `symbols`), offset-paged."""
    out = HistoryResult()
    if symbols is None:
        contracts, listing = await _live(http)
        out.rejected.extend(listing.rejected)
        symbols = [c["symbol"] for c in contracts]
    parts = await http.gather(symbols, lambda s: _history_one(http, s, start, end))
    return merge([out, *parts], start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
