"""Pacifica perpetuals.

API: https://docs.pacifica.fi/api-documentation/api/rest-api (Markets: Get prices, Get market
info, Get historical funding)
Endpoints: GET /api/v1/info/prices (every symbol's prices, funding, OI, volume) + GET /api/v1/info
(instrument list: `instrument_type` perpetual/spot, `base_asset`), joined by `symbol`;
history: GET /api/v1/funding_rate/history?symbol&limit&cursor (per symbol, `next_cursor`/`has_more`).
Rate: `next_funding`, the estimated rate to be paid at the coming hourly settlement, decimal per
1 hour (fixed interval); `funding` is the rate already paid at the last settlement.
Next funding: not published; settlement is every full UTC hour.
Open interest: `open_interest` in base units (the docs say USD; payload evidence says base, see
docs/venues/pacifica.md). Volume: `volume_24h`, USD. Index: `oracle`. Timestamps: int ms.
Symbols: bare base tickers (`BTC`, `kBONK`); spot pairs (`SOL-USDC`) are skipped.
Fixtures: fixtures/pacifica/api_v1_{info_prices,info,funding_rate_history}.*.json
"""

from datetime import datetime
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
    column,
    history_rows,
    make_print,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    price_columns,
    req,
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
    id="pacifica",
    base_url="https://api.pacifica.fi",
    doc_url="https://docs.pacifica.fi/api-documentation/api/rest-api",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC, kBONK",
    max_concurrency=2,  # 100 credits per minute without an API config key
    min_interval_s=0.6,
)
PRICES = "/api/v1/info/prices"
INFO = "/api/v1/info"
HISTORY = "/api/v1/funding_rate/history"
HISTORY_ENDPOINT = "funding_rate/history"
PAGE_SIZE = 1000  # documented maximum 4000
MAX_PAGES = 100


def _data(payload: Any, ctx: Ctx) -> list:
    body = req_dict(payload, ctx)
    if body.get("success") is not True:
        raise ctx.at("success").error(body.get("success"), "Pacifica answered without success true")
    return req_list(req(body, "data", ctx), ctx.at("data"))


def _listed(payload: Any, ctx: Ctx) -> list:
    items = _data(payload, ctx)
    if not items:
        raise ctx.at("data").error(items, "no symbols in the answer")
    return items


def _is_perp(meta: dict) -> bool:
    # `instrument_type` came with spot markets; before them every listed symbol was a perpetual.
    return meta.get("instrument_type", "perpetual") == "perpetual"


def parse_info(payload: Any) -> dict[str, dict]:
    """`/api/v1/info` entries by symbol."""
    items = _listed(payload, Ctx(VENUE.id, "info"))
    return {m["symbol"]: m for m in items if isinstance(m, dict) and isinstance(m.get("symbol"), str)}


def parse_prices(payload: Any, *, observed_at: datetime, info: dict[str, dict]) -> ParseResult:
    ctx = Ctx(VENUE.id, "info/prices")
    next_funding = units.next_boundary(observed_at, VENUE.interval_hours)
    items = _listed(payload, ctx)

    def perpetuals() -> dict[str, list]:
        """build_rows' columns; the join's lists are freed on return, before the rows are made."""
        # Each column is checked and converted as soon as it is read, while it is in the CPU cache.
        symbols = strings(column(items, "symbol"))
        metas = list(map(info.get, symbols))
        if not all(metas):
            raise Slow  # a symbol /api/v1/info does not list: the per-market path rejects it
        kinds = map(dict.get, metas, repeat("instrument_type"), repeat("perpetual"))  # as _is_perp
        wanted = list(map(eq, kinds, repeat("perpetual")))
        entries, metas = list(compress(items, wanted)), list(compress(metas, wanted))
        bases = list(map(dict.get, metas, repeat("base_asset")))
        if not set(map(type, bases)) <= {str} or not all(bases):
            bases = [b if isinstance(b, str) and b else None for b in bases]
        return {
            "symbols": list(compress(symbols, wanted)),
            **price_columns(entries, "mark", "oracle", "next_funding"),
            "open_interest_base": opt_decimals(opt_column(entries, "open_interest")),
            "volumes_24h_usd": opt_decimals(opt_column(entries, "volume_24h")),
            "next_funding_at": [next_funding] * len(entries),
            "base_hints": bases,
        }

    def fast() -> ParseResult:
        built = build_rows(VENUE, **perpetuals())
        return ParseResult(built, [], len(items) - len(built))

    def parse_one(item: Any, at: Ctx):
        price = req_dict(item, at)
        symbol = req_str(price, "symbol", at)
        meta = info.get(symbol)
        if meta is None:
            raise at.at("symbol").error(symbol, "symbol not listed by /api/v1/info")
        if not _is_perp(meta):
            return None
        base = meta.get("base_asset")
        return make_row(
            VENUE,
            at,
            symbol=symbol,
            mark_price=req_decimal(price, "mark", at),
            index_price=opt_decimal(price, "oracle", at),
            rate=req_decimal(price, "next_funding", at),
            rate_raw=price["next_funding"],
            # Base units despite the docs' "in USD": see the module docstring.
            open_interest_base=opt_decimal(price, "open_interest", at),
            volume_24h_usd=opt_decimal(price, "volume_24h", at),
            next_funding_at=next_funding,
            base_hint=base if isinstance(base, str) and base else None,
        )

    return batched(fast, lambda: market_rows(enumerate(items), ctx.at("data"), parse_one))


async def poll(http, observed_at: datetime) -> ParseResult:
    prices = await http.get_json(PRICES)
    info = parse_info(await http.get_json(INFO))
    return parse_prices(prices, observed_at=observed_at, info=info)


def parse_funding_rate_history(
    payload: Any, *, symbol: str, start: datetime, end: datetime
) -> tuple[HistoryResult, str | None, bool, list[datetime]]:
    """Prints in [start, end) of one page, `next_cursor`, `has_more` and every row time in page order."""
    ctx = Ctx(VENUE.id, HISTORY_ENDPOINT)
    items = _data(payload, ctx)
    times: list[datetime] = []

    def parse_one(item: Any, at: Ctx) -> FundingPrint | None:
        row = req_dict(item, at)
        when = units.ms_to_utc(req_int(row, "created_at", at))
        times.append(when)
        if not start <= when < end:
            return None
        return make_print(
            VENUE,
            at.at("funding_rate"),
            symbol=symbol,
            funding_time=when,
            rate=req_decimal(row, "funding_rate", at),
            rate_raw=row["funding_rate"],
            interval_hours=VENUE.interval_hours,
            interval_source=IntervalSource.FIXED,
        )

    result = history_rows(enumerate(items), ctx.at("data"), parse_one)
    body = req_dict(payload, ctx)
    cursor = body.get("next_cursor")
    return result, (str(cursor) if cursor else None), body.get("has_more") is True, times


async def _symbol_history(http, symbol: str, start: datetime, end: datetime, page_size: int) -> HistoryResult:
    params = {"symbol": symbol, "limit": page_size}

    async def fetch(cursor: str | None):
        payload = await http.get_json(HISTORY, {**params, "cursor": cursor} if cursor else params)
        page, next_cursor, more, times = parse_funding_rate_history(payload, symbol=symbol, start=start, end=end)
        # No time filter exists: stop once a newest-first page has reached back past `start`.
        passed_start = len(times) > 1 and times[0] > times[-1] and times[-1] < start
        last = not more or not next_cursor or next_cursor == cursor or not times or passed_start
        return page.prints, page.rejected, None if last else next_cursor

    cap = Ctx(VENUE.id, HISTORY_ENDPOINT, f"$[{symbol}]")
    return HistoryResult(*await walk_pages(fetch, None, max_pages=MAX_PAGES, cap=cap))


async def history(http, start: datetime, end: datetime, symbols=None, *, page_size: int = PAGE_SIZE) -> HistoryResult:
    """Hourly funding of every perpetual `/api/v1/info` lists (or the `symbols` given)."""
    if symbols is None:
        info = parse_info(await http.get_json(INFO))
        symbols = [s for s, meta in info.items() if _is_perp(meta)]
    parts = await http.gather(list(symbols), lambda s: _symbol_history(http, s, start, end, page_size))
    return merge(parts, start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
