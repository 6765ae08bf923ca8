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
from typing import Any, NamedTuple

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
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
from funding_pipeline.lib.exchanges.model import (
    Exchange,
    FundingPrint,
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


Interval = tuple[Decimal, IntervalSource]


def _result(payload: Any, ctx: Ctx) -> dict:
    """The v5 envelope: retCode 0 and a `result` object; anything else fails the whole call."""
    body = req_dict(payload, ctx)
    if str(body.get("retCode")) != "0":
        raise ctx.at("retCode").error(body.get("retCode"), f"venue error: {body.get('retMsg')!r}")
    return req_dict(req(body, "result", ctx), ctx.at("result"))


def parse_instruments_info(
    payload: Any, *, venue: Venue = VENUE
) -> tuple[dict[str, Instrument | ParseError | None], str]:
    """symbol -> Instrument (Trading perpetual), None (skip) or the error; plus the next cursor."""
    ctx = Ctx(venue.id, "instruments-info")
    result = _result(payload, ctx)
    out: dict[str, Instrument | ParseError | None] = {}
    for i, item in enumerate(req_list(result.get("list"), ctx.at("result").at("list"))):
        at = ctx.at("result").at("list").at(i)
        entry = req_dict(item, at)
        symbol = req_str(entry, "symbol", at)
        if entry.get("contractType") != "LinearPerpetual" or entry.get("status") != "Trading":
            out[symbol] = SKIP
            continue
        try:
            out[symbol] = Instrument(opt_decimal(entry, "fundingInterval", at), entry.get("baseCoin") or None)
        except ParseError as exc:
            out[symbol] = exc
    return out, str(result.get("nextPageCursor") or "")


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

    return market_rows(enumerate(items), ctx.at("result").at("list"), parse_one)


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


class Settlement(NamedTuple):
    ms: int
    rate: Decimal
    raw: str


def parse_funding_history(payload: Any, *, venue: Venue = VENUE) -> tuple[list[Settlement], list[ParseError]]:
    """One history page (newest first): settlements kept, malformed entries rejected."""
    ctx = Ctx(venue.id, "funding/history")
    kept, rejected = [], []
    for i, item in enumerate(req_list(_result(payload, ctx).get("list"), ctx.at("result").at("list"))):
        at = ctx.at("result").at("list").at(i)
        try:
            entry = req_dict(item, at)
            rate = req_decimal(entry, "fundingRate", at)
            kept.append(Settlement(req_int(entry, "fundingRateTimestamp", at), rate, str(entry["fundingRate"])))
        except ParseError as exc:
            rejected.append(exc)
    return kept, rejected


def assign_intervals(
    symbol: str, settlements: list[Settlement], fallback: Interval | None, start: datetime, end: datetime
) -> HistoryResult:
    """Prints in [start, end) with the time since the previous settlement as interval (DERIVED).

    The oldest print uses the gap to its successor; a lone print or a gap beyond 8 h (a hole)
    uses `fallback`, the market's current `fundingInterval`.
    """
    by_minute = {s.ms - s.ms % 60_000: s for s in settlements}
    times = sorted(by_minute)
    out = HistoryResult()
    for i, ms in enumerate(times):
        at = units.ms_to_utc(ms)
        if not start <= at < end:
            continue
        gap = ms - times[i - 1] if i else (times[1] - ms if len(times) > 1 else 0)
        hours = units.minutes_to_hours(Decimal(gap // 60_000))
        if 0 < hours <= MAX_INTERVAL_H:
            interval: Interval = (hours, IntervalSource.DERIVED)
        elif fallback is not None:
            interval = fallback
        else:
            ctx = Ctx(VENUE.id, "funding/history", f"{symbol}@{ms}")
            out.rejected.append(ctx.error(gap, "no interval: no neighbour print"))
            continue
        s = by_minute[ms]
        out.prints.append(FundingPrint(VENUE.id, symbol, at, s.rate, s.raw, *interval))
    return out


async def history(http, start: datetime, end: datetime, symbols=None, *, page_limit: int = PAGE_LIMIT):
    """Settled prints per perpetual, paging backwards from `end` to one print before `start`."""
    instruments = await fetch_instruments(http)
    if symbols is None:
        symbols = sorted(s for s, i in instruments.items() if isinstance(i, Instrument))
    first_ms = int(start.timestamp() * 1000) - int(MAX_INTERVAL_H) * 3_600_000
    result = HistoryResult()
    for symbol in symbols:
        settlements: list[Settlement] = []
        cursor = int(end.timestamp() * 1000) - 1
        for _ in range(MAX_PAGES):
            params = {**LINEAR, "symbol": symbol, "startTime": first_ms, "endTime": cursor, "limit": page_limit}
            try:
                kept, rejected = parse_funding_history(await http.get_json("/v5/market/funding/history", params))
            except ParseError as exc:  # e.g. retCode for a symbol Bybit no longer knows
                result.rejected.append(exc)
                break
            settlements += kept
            result.rejected += rejected
            if len(kept) + len(rejected) < page_limit or not kept:
                break
            cursor = min(s.ms for s in kept) - 1
            if cursor < first_ms:
                break
        instrument = instruments.get(symbol)
        fallback = None
        if isinstance(instrument, Instrument) and instrument.interval_min:
            fallback = (units.minutes_to_hours(instrument.interval_min), IntervalSource.MARKET_FIELD)
        one = assign_intervals(symbol, settlements, fallback, start, end)
        result.prints += one.prints
        result.rejected += one.rejected
    result.prints.sort(key=lambda p: (p.funding_time, p.symbol))
    return result


EXCHANGES = (Exchange(VENUE, poll, history),)
