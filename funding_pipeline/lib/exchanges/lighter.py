"""Lighter (zkLighter) perpetuals.

API: https://apidocs.lighter.xyz (public REST, base https://mainnet.zklighter.elliot.ai).
Endpoints: GET /api/v1/orderBookDetails (prices, OI, volume; no funding) joined by `market_id`
with GET /api/v1/funding-rates (current rate of several venues; only `exchange == "lighter"`).
History: GET /api/v1/fundings?market_id&resolution=1h&start_timestamp&end_timestamp&count_back.
Rate: `funding-rates.rate` is a decimal fraction per 8 hours (0.000096 = 8 x 0.0012 %/h), so rows
carry interval 8 h although Lighter settles every hour; `fundings.rate` is percent per hour,
unsigned, with the paying side in `direction` (`long` = positive). See docs/venues/lighter.md.
Open interest: `open_interest`, base units. Volume: `daily_quote_token_volume`, USDC.
Next funding: not published; settlement is on every full UTC hour.
Timestamps: `fundings.timestamp` in Unix seconds. Symbols: bare base (`ETH`, `1000PEPE`).
Fixtures: fixtures/lighter/{orderBookDetails,funding-rates,fundings}.*.json
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
    ints,
    make_print,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
    strings,
)
from funding_pipeline.lib.exchanges.history import merge
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
    id="lighter",
    base_url="https://mainnet.zklighter.elliot.ai",
    doc_url="https://apidocs.lighter.xyz",
    interval_hours=Decimal(8),  # the period `funding-rates.rate` is quoted for; settlement is hourly
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="ETH, BTC, 1000PEPE",
    max_concurrency=2,
    min_interval_s=1.5,  # standard tier: 60 requests per rolling minute per IP
)

RATE_PERIOD_HOURS = Decimal(8)
SETTLEMENT_HOURS = Decimal(1)
DETAILS, RATES, FUNDINGS = "orderBookDetails", "funding-rates", "fundings"
# `fundings` answers at most 750 rows per call. A window [lo, lo + 720 h] holds 721 hourly
# settlements (both ends are inclusive), so ask for 721: still below the cap.
WINDOW_HOURS = 720
COUNT_BACK = WINDOW_HOURS + 1
WINDOW = timedelta(hours=WINDOW_HOURS)


def _envelope(payload: Any, ctx: Ctx, key: str) -> list:
    body = req_dict(payload, ctx)
    if body.get("code") != 200:
        raise ctx.at("code").error(body.get("code"), "expected code 200")
    return req_list(body.get(key), ctx.at(key))


def _lighter_rates(payload: Any) -> tuple[dict[int, tuple[dict, int]], Ctx]:
    """Lighter's own rows of `funding-rates` by market id (with the row index for error paths);
    other venues' rows are dropped.

    A row without a usable market id joins nothing; its market is then rejected as unmatched.
    """
    ctx = Ctx(VENUE.id, RATES)
    out: dict[int, tuple[dict, int]] = {}
    rows_at = ctx.at("funding_rates")
    for i, item in enumerate(_envelope(payload, ctx, "funding_rates")):
        if isinstance(item, dict) and item.get("exchange") == "lighter":
            market_id = item.get("market_id")
            if type(market_id) is not int:  # JSON ints need no check; anything else goes through req_int
                try:
                    market_id = req_int(item, "market_id", rows_at.at(i))
                except ParseError:
                    continue
            out.setdefault(market_id, (item, i))
    return out, rows_at


def _is_perp(item: dict) -> bool:
    return item.get("market_type", "perp") == "perp"  # entries before late 2025 carry no type


def parse_order_book_details(payload: Any, funding_rates: Any, *, observed_at: datetime) -> ParseResult:
    ctx = Ctx(VENUE.id, DETAILS)
    perps = _envelope(payload, ctx, "order_book_details")
    spots = payload.get("spot_order_book_details") or []
    rates, rates_at = _lighter_rates(funding_rates)
    next_funding = units.next_boundary(observed_at, SETTLEMENT_HOURS)

    def fast() -> ParseResult:
        active = [e for e in dicts(perps) if e.get("status") == "active" and _is_perp(e)]
        symbols = strings(column(active, "symbol"))
        rate_rows = [rates[market_id][0] for market_id in ints(column(active, "market_id"))]  # unmatched: KeyError
        if any(r.get("symbol") not in (None, s) for r, s in zip(rate_rows, symbols, strict=True)):
            raise Slow  # joined to another market's row: the per-market path rejects it
        raw = column(rate_rows, "rate")
        n = len(active)
        built = build_rows(
            VENUE,
            symbols,
            decimals(column(active, "mark_price")),
            opt_decimals(opt_column(active, "index_price")),
            decimals(raw),
            raw,
            [RATE_PERIOD_HOURS] * n,
            IntervalSource.FIXED,
            open_interest_base=decimals(column(active, "open_interest")),
            volumes_24h_usd=opt_decimals(opt_column(active, "daily_quote_token_volume")),
            next_funding_at=[next_funding] * n,
            settlement_intervals=[SETTLEMENT_HOURS] * n,
        )
        return ParseResult(built, [], len(perps) - n + len(spots))

    def slow() -> ParseResult:
        result = market_rows(enumerate(perps), ctx.at("order_book_details"), parse_one)
        result.skipped += len(spots)  # spot order books have no funding
        return result

    def parse_one(item: Any, at: Ctx):
        item = req_dict(item, at)
        if item.get("status") != "active" or not _is_perp(item):
            return None
        symbol = req_str(item, "symbol", at)
        market_id = req_int(item, "market_id", at)
        if market_id not in rates:
            raise at.error(market_id, "no lighter row in funding-rates for this market_id")
        rate_row, rate_i = rates[market_id]
        rate_at = rates_at.at(rate_i)
        if rate_row.get("symbol") not in (None, symbol):
            raise rate_at.at("symbol").error(rate_row.get("symbol"), f"market_id joins {symbol}")
        return make_row(
            VENUE,
            at,
            symbol=symbol,
            mark_price=req_decimal(item, "mark_price", at),
            index_price=opt_decimal(item, "index_price", at),
            rate=req_decimal(rate_row, "rate", rate_at),
            rate_raw=rate_row["rate"],
            interval_hours=RATE_PERIOD_HOURS,
            interval_source=IntervalSource.FIXED,
            open_interest_base=req_decimal(item, "open_interest", at),
            volume_24h_usd=opt_decimal(item, "daily_quote_token_volume", at),
            next_funding_at=next_funding,
            settlement_interval_hours=SETTLEMENT_HOURS,
        )

    return batched(fast, slow)


def parse_fundings(payload: Any, *, symbol: str) -> HistoryResult:
    """One `fundings` page: unsigned percent per hour, sign from the paying side."""
    ctx = Ctx(VENUE.id, FUNDINGS)

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        sign = {"long": "", "short": "-"}.get(item.get("direction"))
        if sign is None:
            raise at.at("direction").error(item.get("direction"), "expected long or short")
        magnitude = req_decimal(item, "rate", at)
        if magnitude < 0:
            raise at.at("rate").error(item["rate"], "rate is unsigned; the sign is in direction")
        return make_print(
            VENUE,
            at.at("rate"),
            symbol=symbol,
            funding_time=units.s_to_utc(req_int(item, "timestamp", at)),
            rate=magnitude if sign == "" else -magnitude,
            rate_raw=f"{sign}{item['rate']}",
            interval_hours=SETTLEMENT_HOURS,
            interval_source=IntervalSource.FIXED,
            rate_unit=RateUnit.PERCENT,
        )

    return history_rows(enumerate(_envelope(payload, ctx, "fundings")), ctx.at("fundings"), parse_one)


def perp_markets(payload: Any) -> dict[str, int]:
    """Perpetual markets of `orderBookDetails`: symbol -> market_id.

    Inactive markets are included for history: their past prints are real.
    """
    ctx = Ctx(VENUE.id, DETAILS)
    out = {}
    for i, item in enumerate(_envelope(payload, ctx, "order_book_details")):
        at = ctx.at("order_book_details").at(i)
        if isinstance(item, dict) and _is_perp(item):
            out[req_str(item, "symbol", at)] = req_int(item, "market_id", at)
    return out


async def poll(http, observed_at: datetime) -> ParseResult:
    details = await http.get_json("/api/v1/orderBookDetails")
    rates = await http.get_json("/api/v1/funding-rates")
    return parse_order_book_details(details, rates, observed_at=observed_at)


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    """Hourly settlements in [start, end): 720-hour windows per market, every window asked.

    A window without rows does not end the walk (a market may list mid-range); the number of
    windows is fixed by the range, so the walk always ends.
    """
    markets = perp_markets(await http.get_json("/api/v1/orderBookDetails"))
    wanted = [s for s in markets if symbols is None or s in symbols]
    windows = []
    cursor = start
    while cursor < end:
        windows.append((cursor, min(cursor + WINDOW, end)))
        cursor += WINDOW

    async def window(symbol: str, lo: datetime, hi: datetime) -> HistoryResult:
        params = {
            "market_id": markets[symbol],
            "resolution": "1h",
            "start_timestamp": units.utc_to_s(lo),
            "end_timestamp": units.utc_to_s(hi),
            "count_back": COUNT_BACK,
        }
        return parse_fundings(await http.get_json("/api/v1/fundings", params), symbol=symbol)

    async def one(symbol: str) -> HistoryResult:
        return merge([await window(symbol, lo, hi) for lo, hi in windows], start, end)

    return merge(await http.gather(wanted, one), start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
