"""Binance USD-M perpetuals; also the parser for every venue that speaks the Binance futures dialect.

API: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
Endpoints (one call each for all markets, joined on `symbol`):
  GET /fapi/v1/premiumIndex  markPrice, indexPrice, lastFundingRate, nextFundingTime
  GET /fapi/v1/fundingInfo   fundingIntervalHours, listed only for symbols Binance adjusted
  GET /fapi/v1/ticker/24hr   quoteVolume (quote asset, USDT/USDC, taken as USD)
  GET /fapi/v1/openInterest?symbol=  openInterest (base units), one symbol per call: each slot
    asks a rotating share of the perpetuals (`OpenInterestRotation`), rows carry the latest answer
History: GET /fapi/v1/fundingRate?symbol&startTime&endTime&limit<=1000, ascending, forward cursor.
Rate: `lastFundingRate`, decimal per the symbol's interval (the estimate settling at nextFundingTime).
Interval: `fundingIntervalHours` for symbols listed in fundingInfo (MARKET_FIELD); symbols absent
from it use Binance's documented 8 h default (FIXED).
Open interest: no all-symbol endpoint, so per symbol, sized to a quarter of the 2400 weight/min;
an answer older than `OI_MAX_AGE`, or none yet, leaves the row's OI empty.
Timestamps: int ms. Symbols: BTCUSDT, 1000SHIBUSDT, BTCUSDC; dated futures (BTCUSDT_250328,
nextFundingTime 0) and markets not quoted in USDT/USDC (BNBBTC) are skipped.
Fixtures: fixtures/binance/fapi_v1_{premiumIndex,fundingInfo,ticker_24hr,fundingRate,openInterest}.*.json
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import compress, repeat
from operator import is_not
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
    distinct,
    each_entry,
    ints,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    opt_time,
    price_columns,
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
from funding_pipeline.lib.http.errors import HttpStatusError, TransportError
from funding_pipeline.lib.polling import SLOT_SECONDS

VENUE = Venue(
    id="binance",
    base_url="https://fapi.binance.com",
    doc_url="https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api",
    interval_hours=None,  # 8 h default, 4 h / 1 h per symbol in fundingInfo
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",  # per-symbol openInterest, a rotating share per slot
    symbol_style="BTCUSDT, 1000SHIBUSDT, BTCUSDC",
)

DEFAULT_INTERVAL_H = Decimal(8)  # symbols absent from fundingInfo
MAX_INTERVAL_H = Decimal(8)  # longest interval the dialect uses; a longer gap is a hole in the data
USD_QUOTES = ("USDT", "USDC", "USD")
PAGE_LIMIT = 1000
MAX_PAGES = 500  # per symbol: 500k prints, far beyond any history; stops a runaway cursor
HISTORY_PAUSE_S = 0.6  # fundingRate + fundingInfo share 500 requests / 5 min / IP
OI_ENDPOINT = "openInterest"
OI_MAX_AGE = timedelta(minutes=5)  # an older answer is not attached: the row's OI stays empty
OI_REFRESH_SLOTS = 16  # every symbol asked once per 4 minutes, inside OI_MAX_AGE
OI_MIN_PER_SLOT = 10  # a venue with few perpetuals (a test or a new venue) asks them all each slot
OI_MARGIN_S = 2.0  # open-interest calls stop this long before the slot deadline, so rows still arrive
RATE_LIMITED = (418, 429)  # the venue asks for a pause: no more open-interest calls this slot


def is_perpetual(entry: dict) -> bool:
    """Dated futures carry `_` and nextFundingTime 0; BNBBTC-style markets are not priced in USD."""
    symbol = str(entry.get("symbol", ""))
    if "_" in symbol or entry.get("nextFundingTime") in (0, "0") or entry.get("lastFundingRate") == "":
        return False
    return symbol.endswith(USD_QUOTES)


def perpetual_symbols(payload: Any, *, venue: Venue = VENUE) -> list[str]:
    """Sorted symbols of the USD-quoted perpetuals in a premiumIndex answer."""
    listed = req_list(payload, Ctx(venue.id, "premiumIndex"))
    return sorted(e["symbol"] for e in listed if isinstance(e, dict) and is_perpetual(e))


def parse_funding_info(payload: Any, *, venue: Venue = VENUE) -> dict[str, Decimal | ParseError]:
    """symbol -> interval hours; a malformed interval is kept as the error so its market is rejected."""
    ctx = Ctx(venue.id, "fundingInfo")
    items = req_list(payload, ctx)

    def fast() -> dict[str, Decimal | ParseError]:
        symbols = strings(column(dicts(items), "symbol"))
        hours = opt_column(items, "fundingIntervalHours")
        found = distinct(hours)  # a few intervals (1, 4, 8): each converted once
        given = [h for h in found if h is not None]
        converted = dict(zip(given, decimals(given), strict=True))
        if len(given) < len(found):  # entries without an interval are left out (cap changes only)
            kept = list(map(is_not, hours, repeat(None)))
            symbols, hours = list(compress(symbols, kept)), list(compress(hours, kept))
        return dict(zip(symbols, map(converted.__getitem__, hours), strict=True))

    def interval(entry: dict, at: Ctx) -> Decimal | object:
        if entry.get("fundingIntervalHours") is None:
            return _LEFT_OUT  # listed for a cap change only: the interval stays the default
        return req_decimal(entry, "fundingIntervalHours", at)

    return batched(fast, lambda: _per_symbol(items, ctx, interval))


def parse_ticker_24hr(payload: Any, *, venue: Venue = VENUE) -> dict[str, Decimal | ParseError | None]:
    """symbol -> 24 h quote volume (USDT/USDC); a malformed volume is kept as the error."""
    ctx = Ctx(venue.id, "ticker/24hr")
    items = req_list(payload, ctx)

    def fast() -> dict[str, Decimal | ParseError | None]:
        entries = dicts(items)
        volumes = opt_decimals(opt_column(entries, "quoteVolume"))
        return dict(zip(strings(column(entries, "symbol")), volumes, strict=True))

    return batched(fast, lambda: _per_symbol(items, ctx, lambda entry, at: opt_decimal(entry, "quoteVolume", at)))


_LEFT_OUT = object()


def _per_symbol(items: list, ctx: Ctx, read: Callable[[dict, Ctx], Any]) -> dict[str, Any]:
    """symbol -> `read(entry, at)`, or the ParseError it raised, kept so that only its market is
    rejected; an entry naming no market fails the whole answer (it cannot be applied), and one
    `read` answers `_LEFT_OUT` for is not listed."""
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        at = ctx.at(i)
        entry = req_dict(item, at)
        symbol = req_str(entry, "symbol", at)
        try:
            value = read(entry, at)
        except ParseError as exc:
            value = exc
        if value is not _LEFT_OUT:
            out[symbol] = value
    return out


_DEFAULT_INTERVAL = {None: DEFAULT_INTERVAL_H}  # market_interval for whole columns
_DEFAULT_SOURCE = {None: IntervalSource.FIXED}


def market_interval(intervals: Mapping[str, Decimal | ParseError], symbol: str) -> Interval:
    got = intervals.get(symbol)
    if isinstance(got, ParseError):
        raise got
    if got is None:
        return DEFAULT_INTERVAL_H, IntervalSource.FIXED
    return got, IntervalSource.MARKET_FIELD


def parse_premium_index(
    payload: Any,
    *,
    observed_at: datetime,
    intervals: Mapping[str, Decimal | ParseError],
    volumes: Mapping[str, Decimal | ParseError | None],
    open_interest: Mapping[str, Decimal] | None = None,
    venue: Venue = VENUE,
) -> ParseResult:
    """One row per USD-quoted perpetual; `intervals` and `volumes` come from the two parsers above,
    `open_interest` (base units per symbol) from `OpenInterestRotation.current`."""
    ctx = Ctx(venue.id, "premiumIndex")
    oi = open_interest or {}
    items = req_list(payload, ctx)

    def perpetuals() -> dict[str, list]:
        """build_rows' columns; the join's lists are freed on return, before the rows are made."""
        strings(column(dicts(items), "symbol"))  # the per-market path refuses an entry without one
        entries = [e for e in items if is_perpetual(e)]
        symbols = column(entries, "symbol")
        got = list(map(intervals.get, symbols))
        volume = list(map(volumes.get, symbols))
        if any(issubclass(t, ParseError) for t in {*map(type, got), *map(type, volume)}):
            raise Slow
        return {
            "symbols": symbols,
            **price_columns(entries, "markPrice", "indexPrice", "lastFundingRate"),
            "intervals": list(map(_DEFAULT_INTERVAL.get, got, got)),  # None -> the default
            "interval_source": list(map(_DEFAULT_SOURCE.get, got, repeat(IntervalSource.MARKET_FIELD))),
            "open_interest_base": list(map(oi.get, symbols)) if oi else None,
            "volumes_24h_usd": volume,
            "next_funding_at": list(map(units.ms_to_utc, ints(column(entries, "nextFundingTime")))),
        }

    def fast() -> ParseResult:
        built = build_rows(venue, **perpetuals())
        return ParseResult(built, [], len(items) - len(built))

    def parse_one(item: Any, at: Ctx):
        entry = req_dict(item, at)
        symbol = req_str(entry, "symbol", at)
        if not is_perpetual(entry):
            return None
        interval, source = market_interval(intervals, symbol)
        volume = volumes.get(symbol)
        if isinstance(volume, ParseError):
            raise volume
        return make_row(
            venue,
            at,
            symbol=symbol,
            mark_price=req_decimal(entry, "markPrice", at),
            index_price=opt_decimal(entry, "indexPrice", at),
            rate=req_decimal(entry, "lastFundingRate", at),
            rate_raw=entry["lastFundingRate"],
            interval_hours=interval,
            interval_source=source,
            open_interest_base=oi.get(symbol),
            volume_24h_usd=volume,
            next_funding_at=opt_time(entry, "nextFundingTime", at, units.ms_to_utc),
        )

    return batched(fast, lambda: market_rows(enumerate(items), ctx, parse_one))


def parse_funding_rate(payload: Any, *, venue: Venue = VENUE) -> tuple[list[Settlement], list[ParseError]]:
    """One `fundingRate` page: settlements kept, malformed entries rejected with their path."""
    ctx = Ctx(venue.id, "fundingRate")

    def parse_one(item: Any, at: Ctx) -> Settlement:
        entry = req_dict(item, at)
        rate = req_decimal(entry, "fundingRate", at)
        return Settlement(req_int(entry, "fundingTime", at), rate, str(entry["fundingRate"]))

    kept, rejected, _ = each_entry(enumerate(req_list(payload, ctx)), ctx, parse_one)
    return kept, rejected


def assign_intervals(
    venue: Venue,
    symbol: str,
    settlements: Iterable[Settlement],
    fallback: Interval | None,
    start: datetime,
    end: datetime,
) -> HistoryResult:
    """`settled_prints` of one symbol: gaps up to `MAX_INTERVAL_H`, else the market's interval."""
    ctx = Ctx(venue.id, "fundingRate")
    return settled_prints(ctx, symbol, settlements, fallback, start, end, max_hours=MAX_INTERVAL_H)


def _oi_ctx(venue: Venue, symbol: str) -> Ctx:
    return Ctx(venue.id, OI_ENDPOINT, f"$[symbol={symbol}]")


def parse_open_interest(payload: Any, symbol: str, *, venue: Venue = VENUE) -> Decimal:
    """`{symbol, openInterest, time}` of one symbol: its open interest in base units."""
    ctx = _oi_ctx(venue, symbol)
    entry = req_dict(payload, ctx)
    if entry.get("symbol") != symbol:
        raise ctx.at("symbol").error(entry.get("symbol"), f"answer is not for {symbol}")
    value = req_decimal(entry, "openInterest", ctx)
    if value < 0:
        raise ctx.at("openInterest").error(entry["openInterest"], "open interest must not be negative")
    return value


@dataclass(frozen=True, slots=True)
class OpenInterestSource:
    """A per-symbol open-interest route and how many symbols one slot may ask.

    `per_slot` is the rate-limit ceiling; `refresh_slots` spreads the symbols thinner when that is
    enough to ask each one within that many slots, since every call costs CPU on each slot.
    """

    route: str  # e.g. "/fapi/v1/openInterest"
    per_slot: int
    refresh_slots: int | None = None

    def __post_init__(self):
        if self.per_slot < 1:
            raise ValueError(f"open interest needs at least one call per slot, got {self.per_slot}")


def oi_calls_per_slot(weight_per_min: int, bulk_weight: int, oi_weight: int = 1) -> int:
    """Calls per slot that keep a whole poll within a quarter of the venue's weight per minute.

    The other three quarters stay for history back-fills, retries and other clients of the IP.
    """
    return (weight_per_min // 4 // (60 // SLOT_SECONDS) - bulk_weight) // oi_weight


class OpenInterestRotation:
    """Latest per-symbol answers of one venue within the run; each slot asks the next share of symbols."""

    def __init__(self, source: OpenInterestSource):
        self.source = source
        self.answers: dict[str, tuple[datetime, Decimal]] = {}

    def due(self, symbols: Iterable[str], observed_at: datetime) -> list[str]:
        """The slot's share: sorted symbols in groups of `per_slot`, group = slot number mod groups.

        Stateless, so a rerun of a slot asks the same symbols; every symbol is asked once per
        `ceil(len(symbols) / per_slot)` slots.
        """
        ordered, size = sorted(set(symbols)), self.source.per_slot
        if not ordered:
            return []
        if self.source.refresh_slots:
            size = min(size, max(-(-len(ordered) // self.source.refresh_slots), OI_MIN_PER_SLOT))
        group = units.utc_to_s(observed_at) // SLOT_SECONDS % -(-len(ordered) // size)
        return ordered[group * size : (group + 1) * size]

    def current(self, observed_at: datetime) -> dict[str, Decimal]:
        """Answers at most `OI_MAX_AGE` old at `observed_at`, none from a later slot."""
        return {s: v for s, (at, v) in self.answers.items() if timedelta(0) <= observed_at - at <= OI_MAX_AGE}

    async def refresh(self, http, venue: Venue, symbols: Iterable[str], observed_at: datetime) -> list[ParseError]:
        """Ask the slot's share; each failed call comes back as a rejection and keeps the older answer."""
        failed: list[ParseError] = []
        stop = False

        async def one(symbol: str) -> None:
            nonlocal stop
            if stop:
                return
            try:
                payload = await http.get_json(self.source.route, {"symbol": symbol})
                self.answers[symbol] = (observed_at, parse_open_interest(payload, symbol, venue=venue))
            except ParseError as exc:
                failed.append(exc)
            except TransportError as exc:
                failed.append(_oi_ctx(venue, symbol).error(None, f"{type(exc).__name__}: {exc}"))
                stop = stop or (isinstance(exc, HttpStatusError) and exc.status in RATE_LIMITED)

        budget = max(0.0, http.deadline - http.clock() - OI_MARGIN_S)
        try:
            await asyncio.wait_for(http.gather(self.due(symbols, observed_at), one), budget)
        except TimeoutError:
            failed.append(Ctx(venue.id, OI_ENDPOINT).error(budget, "open-interest calls cut at the slot budget"))
        return failed


def poller(venue: Venue, api: str, open_interest: OpenInterestSource | None = None):
    """`poll` for a Binance-dialect venue whose routes live under `api` (e.g. "/fapi/v1").

    With `open_interest`, each poll also asks a rotating share of symbols for their open interest.
    """
    rotation = OpenInterestRotation(open_interest) if open_interest else None

    async def poll(http, observed_at: datetime) -> ParseResult:
        premium, info, tickers = await asyncio.gather(
            http.get_json(f"{api}/premiumIndex"),
            http.get_json(f"{api}/fundingInfo"),
            http.get_json(f"{api}/ticker/24hr"),
        )
        failed: list[ParseError] = []
        if rotation is not None:
            failed = await rotation.refresh(http, venue, perpetual_symbols(premium, venue=venue), observed_at)
        result = parse_premium_index(
            premium,
            observed_at=observed_at,
            intervals=parse_funding_info(info, venue=venue),
            volumes=parse_ticker_24hr(tickers, venue=venue),
            open_interest=rotation.current(observed_at) if rotation else None,
            venue=venue,
        )
        result.rejected.extend(failed)
        return result

    return poll


def historian(venue: Venue, api: str, pause_s: float = HISTORY_PAUSE_S):
    """`history` for a Binance-dialect venue: per symbol, pages forward from `start - 8 h`."""

    async def history(
        http, start: datetime, end: datetime, symbols=None, *, page_limit: int = PAGE_LIMIT
    ) -> HistoryResult:
        intervals = parse_funding_info(await http.get_json(f"{api}/fundingInfo"), venue=venue)
        if symbols is None:
            symbols = perpetual_symbols(await http.get_json(f"{api}/premiumIndex"), venue=venue)
        # One settlement before `start` gives the first print in range its predecessor.
        first_ms = units.utc_to_ms(start) - int(MAX_INTERVAL_H) * 3_600_000
        last_ms = units.utc_to_ms(end) - 1  # endTime is inclusive, `end` is not

        async def one(symbol: str) -> HistoryResult:
            async def fetch(cursor: int):
                await http.sleep(pause_s)
                params = {"symbol": symbol, "startTime": cursor, "endTime": last_ms, "limit": page_limit}
                page = await http.get_json(f"{api}/fundingRate", params)
                kept, rejected = parse_funding_rate(page, venue=venue)
                last = len(page) < page_limit or not kept
                return kept, rejected, None if last else max(s.ms for s in kept) + 1

            # A bad page ends only this symbol's history: one symbol's answer must not cost the others.
            settlements, rejected = await walk_pages(fetch, first_ms, max_pages=MAX_PAGES)
            try:
                fallback: Interval | None = market_interval(intervals, symbol)
            except ParseError as exc:
                rejected.append(exc)
                fallback = None
            part = assign_intervals(venue, symbol, settlements, fallback, start, end)
            return HistoryResult(part.prints, rejected + part.rejected)

        return merge([await one(symbol) for symbol in symbols], start, end)

    return history


# premiumIndex 1 + fundingInfo 0 + ticker/24hr 40 per poll; openInterest weighs 1.
OPEN_INTEREST = OpenInterestSource("/fapi/v1/openInterest", oi_calls_per_slot(2400, bulk_weight=41), OI_REFRESH_SLOTS)

EXCHANGES = (Exchange(VENUE, poller(VENUE, "/fapi/v1", OPEN_INTEREST), historian(VENUE, "/fapi/v1")),)
