"""Bybit linear (USDT/USDC-margined) perpetuals, public REST v5.

API: https://bybit-exchange.github.io/docs/v5/market/tickers
Endpoints: GET /v5/market/instruments-info?category=linear&limit=1000 (cursor pages: contractType,
status, fundingInterval minutes, baseCoin) and GET /v5/market/tickers?category=linear (every
linear contract in one call), joined on `symbol`.
History: GET /v5/market/funding/history?category=linear&symbol&startTime&endTime&limit<=200,
newest first; paged backwards with endTime = oldest - 1.
Rate: `fundingRate`, decimal per the symbol's interval, settling at `nextFundingTime`.
Interval: instruments-info `fundingInterval` (minutes), else tickers `fundingIntervalHour`;
both are fields of the market (MARKET_FIELD). A market stating neither is rejected.
Open interest: `openInterest` in base coins and `openInterestValue` in USD(T), both as sent.
Volume: `turnover24h`, quote coin (USDT/USDC) taken as USD. Timestamps: ms as strings.
Symbols: BTCUSDT, 1000PEPEUSDT, BTCPERP. Skipped: dated futures (contractType LinearFutures) and
anything not `Trading` (instruments-info lists only Trading markets unless asked otherwise).
Fixtures: fixtures/bybit/v5_market_{instruments_info_linear,tickers_linear,funding_history}.*.json
"""

from datetime import datetime
from decimal import Decimal
from itertools import compress, repeat
from operator import and_, attrgetter, eq, is_not
from typing import Any, NamedTuple

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    Slow,
    _tuple_new,
    batched,
    build_rows,
    by_value,
    column,
    dicts,
    each_entry,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    opt_epoch_times,
    opt_time,
    price_columns,
    req,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
    strings,
)
from funding_pipeline.lib.exchanges.history import Interval, Settlement, merge, settled_prints, walk_pages
from funding_pipeline.lib.exchanges.model import (
    Exchange,
    HistoryResult,
    IntervalSource,
    ParseError,
    ParseResult,
    RateUnit,
    Venue,
)

VENUE = Venue(
    id="bybit",
    base_url="https://api.bybit.com",
    doc_url="https://bybit-exchange.github.io/docs/v5/market/tickers",
    interval_hours=None,  # 8 h / 4 h / 1 h per symbol
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",  # openInterest; openInterestValue is USD
    symbol_style="BTCUSDT, 1000PEPEUSDT, BTCPERP",
    min_interval_s=0.05,  # history makes one call per page; public limit is per IP
)

LINEAR = {"category": "linear"}
INSTRUMENT_PAGE = 1000  # documented maximum; more than 500 linear symbols exist
MAX_INSTRUMENT_PAGES = 10
PAGE_LIMIT = 200
MAX_PAGES = 500
MAX_INTERVAL_H = Decimal(8)
SKIP = None  # instruments-info entry that is not a Trading perpetual


class Instrument(NamedTuple):
    interval_min: Decimal | None
    base_coin: str | None


def _result(payload: Any, ctx: Ctx) -> dict:
    """The v5 envelope: retCode 0 and a `result` object; anything else fails the whole call."""
    body = req_dict(payload, ctx)
    if str(body.get("retCode")) != "0":
        raise ctx.at("retCode").error(body.get("retCode"), f"venue error: {body.get('retMsg')!r}")
    return req_dict(req(body, "result", ctx), ctx.at("result"))


_interval_min, _base_coin = attrgetter("interval_min"), attrgetter("base_coin")


def parse_instruments_info(
    payload: Any, *, venue: Venue = VENUE
) -> tuple[dict[str, Instrument | ParseError | None], str]:
    """symbol -> Instrument (Trading perpetual), None (skip) or the error; plus the next cursor."""
    ctx = Ctx(venue.id, "instruments-info")
    result = _result(payload, ctx)
    items = req_list(result.get("list"), ctx.at("result").at("list"))

    def trading(entry: dict) -> bool:
        return entry.get("contractType") == "LinearPerpetual" and entry.get("status") == "Trading"

    def fast() -> dict[str, Instrument | ParseError | None]:
        symbols = strings(column(dicts(items), "symbol"))
        if len(set(symbols)) != len(symbols):
            raise Slow  # listed twice: the last entry decides, as slow() has it
        kinds = map(eq, opt_column(items, "contractType"), repeat("LinearPerpetual"))
        live = list(map(and_, kinds, map(eq, opt_column(items, "status"), repeat("Trading"))))  # as trading()
        entries = list(compress(items, live))
        given = opt_column(entries, "fundingInterval")
        minutes = by_value(given, opt_decimals)
        bases = opt_column(entries, "baseCoin")
        if not all(bases):
            bases = [b or None for b in bases]
        out = dict.fromkeys(symbols, SKIP)
        made = map(_tuple_new, repeat(Instrument), zip(map(minutes.__getitem__, given), bases, strict=True))
        out.update(zip(compress(symbols, live), made, strict=True))
        return out

    def slow() -> dict[str, Instrument | ParseError | None]:
        out: dict[str, Instrument | ParseError | None] = {}
        for i, item in enumerate(items):
            at = ctx.at("result").at("list").at(i)
            entry = req_dict(item, at)
            symbol = req_str(entry, "symbol", at)
            if not trading(entry):
                out[symbol] = SKIP
                continue
            try:
                out[symbol] = Instrument(opt_decimal(entry, "fundingInterval", at), entry.get("baseCoin") or None)
            except ParseError as exc:
                out[symbol] = exc
        return out

    return batched(fast, slow), str(result.get("nextPageCursor") or "")


def parse_tickers(
    payload: Any,
    *,
    observed_at: datetime,
    instruments: dict[str, Instrument | ParseError | None],
    venue: Venue = VENUE,
) -> ParseResult:
    """One row per Trading perpetual; tickers absent from `instruments` are not Trading: skipped."""
    ctx = Ctx(venue.id, "tickers")
    items = req_list(_result(payload, ctx).get("list"), ctx.at("result").at("list"))

    def perpetuals() -> dict[str, list]:
        """build_rows' columns; the join's lists are freed on return, before the rows are made."""
        symbols = strings(column(dicts(items), "symbol"))
        found = list(map(instruments.get, symbols))
        keep = list(map(is_not, found, repeat(None)))
        entries, markets = list(compress(items, keep)), list(compress(found, keep))
        minutes = list(map(_interval_min, markets))  # an error in `instruments` has none: AttributeError
        hours = {m: units.minutes_to_hours(m) for m in set(minutes) if m is not None}
        if type(None) in set(map(type, minutes)):
            stated = opt_decimals(
                [e.get("fundingIntervalHour") if m is None else None for e, m in zip(entries, minutes, strict=True)]
            )
            intervals = [h if m is None else hours[m] for m, h in zip(minutes, stated, strict=True)]
            if type(None) in set(map(type, intervals)):  # `None in` would call Decimal.__eq__ per market
                raise Slow  # neither states the interval: the per-market path rejects the market
        else:
            intervals = list(map(hours.__getitem__, minutes))
        return {
            "symbols": list(compress(symbols, keep)),
            **price_columns(entries, "markPrice", "indexPrice", "fundingRate"),
            "intervals": intervals,
            "interval_source": IntervalSource.MARKET_FIELD,
            "open_interest_base": opt_decimals(opt_column(entries, "openInterest")),
            "open_interest_usd": opt_decimals(opt_column(entries, "openInterestValue")),
            "volumes_24h_usd": opt_decimals(opt_column(entries, "turnover24h")),
            "next_funding_at": opt_epoch_times(opt_column(entries, "nextFundingTime"), units.ms_to_utc),
            "base_hints": list(map(_base_coin, markets)),
        }

    def fast() -> ParseResult:
        built = build_rows(venue, **perpetuals())
        return ParseResult(built, [], len(items) - len(built))

    def parse_one(item: Any, at: Ctx):
        entry = req_dict(item, at)
        instrument = instruments.get(req_str(entry, "symbol", at))
        if isinstance(instrument, ParseError):
            raise instrument
        if instrument is None:
            return None
        if instrument.interval_min is not None:
            interval: Decimal | None = units.minutes_to_hours(instrument.interval_min)
        else:
            interval = opt_decimal(entry, "fundingIntervalHour", at)
        return make_row(
            venue,
            at,
            symbol=entry["symbol"],
            mark_price=req_decimal(entry, "markPrice", at),
            index_price=opt_decimal(entry, "indexPrice", at),
            rate=req_decimal(entry, "fundingRate", at),
            rate_raw=entry["fundingRate"],
            interval_hours=interval,
            interval_source=IntervalSource.MARKET_FIELD if interval is not None else None,
            open_interest_base=opt_decimal(entry, "openInterest", at),
            open_interest_usd=opt_decimal(entry, "openInterestValue", at),
            volume_24h_usd=opt_decimal(entry, "turnover24h", at),
            next_funding_at=opt_time(entry, "nextFundingTime", at, units.ms_to_utc),
            base_hint=instrument.base_coin,
        )

    return batched(fast, lambda: market_rows(enumerate(items), ctx.at("result").at("list"), parse_one))


async def fetch_instruments(http) -> dict[str, Instrument | ParseError | None]:
    out: dict[str, Instrument | ParseError | None] = {}
    params: dict[str, Any] = {**LINEAR, "limit": INSTRUMENT_PAGE}
    for _ in range(MAX_INSTRUMENT_PAGES):
        page, cursor = parse_instruments_info(await http.get_json("/v5/market/instruments-info", params))
        out.update(page)
        if not cursor or not page:
            break
        params = {**params, "cursor": cursor}
    return out


async def poll(http, observed_at: datetime) -> ParseResult:
    instruments = await fetch_instruments(http)
    tickers = await http.get_json("/v5/market/tickers", LINEAR)
    return parse_tickers(tickers, observed_at=observed_at, instruments=instruments)


def parse_funding_history(payload: Any, *, venue: Venue = VENUE) -> tuple[list[Settlement], list[ParseError]]:
    """One history page (newest first): settlements kept, malformed entries rejected."""
    ctx = Ctx(venue.id, "funding/history")
    items = req_list(_result(payload, ctx).get("list"), ctx.at("result").at("list"))

    def parse_one(item: Any, at: Ctx) -> Settlement:
        entry = req_dict(item, at)
        rate = req_decimal(entry, "fundingRate", at)
        return Settlement(req_int(entry, "fundingRateTimestamp", at), rate, str(entry["fundingRate"]))

    kept, rejected, _ = each_entry(enumerate(items), ctx.at("result").at("list"), parse_one)
    return kept, rejected


def assign_intervals(
    symbol: str, settlements: list[Settlement], fallback: Interval | None, start: datetime, end: datetime
) -> HistoryResult:
    """`settled_prints` of one symbol: gaps up to 8 h, else the market's current `fundingInterval`."""
    ctx = Ctx(VENUE.id, "funding/history")
    return settled_prints(ctx, symbol, settlements, fallback, start, end, max_hours=MAX_INTERVAL_H)


async def history(http, start: datetime, end: datetime, symbols=None, *, page_limit: int = PAGE_LIMIT):
    """Settled prints per perpetual, paging backwards from `end` to one print before `start`."""
    instruments = await fetch_instruments(http)
    if symbols is None:
        symbols = sorted(s for s, i in instruments.items() if isinstance(i, Instrument))
    first_ms = units.utc_to_ms(start) - int(MAX_INTERVAL_H) * 3_600_000

    async def one(symbol: str) -> HistoryResult:
        async def fetch(cursor: int):
            params = {**LINEAR, "symbol": symbol, "startTime": first_ms, "endTime": cursor, "limit": page_limit}
            kept, rejected = parse_funding_history(await http.get_json("/v5/market/funding/history", params))
            older = min((s.ms for s in kept), default=first_ms) - 1
            last = len(kept) + len(rejected) < page_limit or not kept or older < first_ms
            return kept, rejected, None if last else older

        # A bad page (e.g. retCode for a symbol Bybit no longer knows) ends only this symbol.
        settlements, rejected = await walk_pages(fetch, units.utc_to_ms(end) - 1, max_pages=MAX_PAGES)
        instrument = instruments.get(symbol)
        fallback = None
        if isinstance(instrument, Instrument) and instrument.interval_min:
            fallback = (units.minutes_to_hours(instrument.interval_min), IntervalSource.MARKET_FIELD)
        part = assign_intervals(symbol, settlements, fallback, start, end)
        return HistoryResult(part.prints, rejected + part.rejected)

    return merge([await one(symbol) for symbol in symbols], start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
