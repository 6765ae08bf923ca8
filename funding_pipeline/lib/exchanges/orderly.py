"""Orderly Network perpetuals (one shared book behind WOOFi Pro and other front-ends).

API: https://orderly.network/docs/build-on-omnichain/restful-api/public/get-market-info-for-all-symbols
Endpoints (GET; envelope {"success": true, "timestamp": ms, "data": {"rows": [...]}}; numbers are
JSON numbers, `open_interest` may be a string):
  /v1/public/futures         mark_price, index_price, open_interest (base), 24h_amount (USDC notional)
  /v1/public/funding_rates   est_funding_rate, last_funding_rate_timestamp, next_funding_time (ms)
  /v1/public/funding_rate_history?symbol&start_t&end_t&page&size   settled rates, page-numbered
Rate: `est_funding_rate`, the predicted decimal rate for the settlement at `next_funding_time`.
Interval per market (8h default, 4h/1h on some): next_funding_time - last_funding_rate_timestamp.
Symbols: PERP_<BASE>_USDC (PERP_1000PEPE_USDC-style multipliers kept verbatim).
Fixtures: fixtures/orderly/{futures,funding_rates,funding_rate_history}.*.json
"""

from datetime import datetime
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
    each_entry,
    history_rows,
    ints,
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
from funding_pipeline.lib.exchanges.history import merge, respace, unique_ascending, walk_pages
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
    id="orderly",
    base_url="https://api.orderly.org",
    doc_url="https://orderly.network/docs/build-on-omnichain/restful-api/public/get-market-info-for-all-symbols",
    interval_hours=None,
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="PERP_BTC_USDC",
    max_concurrency=2,
    min_interval_s=0.12,  # 10 requests / 1 s per IP on every public endpoint used
)

FUTURES, FUNDING_RATES, HISTORY = "futures", "funding_rates", "funding_rate_history"
PATHS = {
    FUTURES: "/v1/public/futures",
    FUNDING_RATES: "/v1/public/funding_rates",
    HISTORY: "/v1/public/funding_rate_history",
}
PAGE_SIZE = 100
MAX_PAGES = 200
MS_PER_MINUTE = 60_000


def _rows(payload: Any, endpoint: str) -> tuple[list, Ctx]:
    ctx = Ctx(VENUE.id, endpoint)
    body = req_dict(payload, ctx)
    if body.get("success") is not True:
        raise ctx.at("success").error(body.get("success"), f"request failed: {body.get('message')!r}")
    data = req_dict(body.get("data"), ctx.at("data"))
    return req_list(data.get("rows"), ctx.at("data").at("rows")), ctx.at("data").at("rows")


def _span_hours(row: dict, at: Ctx, start_key: str) -> Decimal:
    """next_funding_time - `start_key` (both ms), in whole minutes."""
    span_ms = req_int(row, "next_funding_time", at) - req_int(row, start_key, at)
    if span_ms <= 0:
        raise at.at("next_funding_time").error(row["next_funding_time"], f"not after {start_key}")
    return units.minutes_to_hours(Decimal(round(span_ms / MS_PER_MINUTE)))


def parse_futures(payload: Any, *, observed_at: datetime, funding_rates: Any) -> ParseResult:
    """Markets from /futures joined on `symbol` with their row in /funding_rates."""
    rows, ctx = _rows(payload, FUTURES)
    funding_rows, funding_ctx = _rows(funding_rates, FUNDING_RATES)
    funding = {
        row["symbol"]: i
        for i, row in enumerate(funding_rows)
        if isinstance(row, dict) and isinstance(row.get("symbol"), str)
    }

    def fast() -> ParseResult:
        symbols = strings(column(dicts(rows), "symbol"))
        keep = [i for i, s in enumerate(symbols) if s.startswith("PERP_") and s in funding]
        items = [rows[i] for i in keep]
        rate_rows = dicts([funding_rows[funding[symbols[i]]] for i in keep])
        raw = column(rate_rows, "est_funding_rate")
        next_ms = ints(column(rate_rows, "next_funding_time"))
        spans = [
            n - last for n, last in zip(next_ms, ints(column(rate_rows, "last_funding_rate_timestamp")), strict=True)
        ]
        if spans and min(spans) <= 0:
            raise Slow
        hours = {span: units.minutes_to_hours(Decimal(round(span / MS_PER_MINUTE))) for span in set(spans)}
        built = build_rows(
            VENUE,
            [symbols[i] for i in keep],
            decimals(column(items, "mark_price")),
            opt_decimals(opt_column(items, "index_price")),
            decimals(raw),
            raw,
            [hours[span] for span in spans],
            IntervalSource.DERIVED,
            open_interest_base=opt_decimals(opt_column(items, "open_interest")),
            volumes_24h_usd=opt_decimals(opt_column(items, "24h_amount")),
            next_funding_at=list(map(units.ms_to_utc, next_ms)),
        )
        return ParseResult(built, [], len(rows) - len(built))

    def parse_one(item: Any, at: Ctx):
        item = req_dict(item, at)
        symbol = req_str(item, "symbol", at)
        if not symbol.startswith("PERP_") or symbol not in funding:
            return None  # not a perpetual, or a pre-launch market without funding
        rate_row, rate_at = funding_rows[funding[symbol]], funding_ctx.at(funding[symbol])
        return make_row(
            VENUE,
            at,
            symbol=symbol,
            mark_price=req_decimal(item, "mark_price", at),
            index_price=opt_decimal(item, "index_price", at),
            rate=req_decimal(rate_row, "est_funding_rate", rate_at),
            rate_raw=rate_row["est_funding_rate"],
            interval_hours=_span_hours(rate_row, rate_at, "last_funding_rate_timestamp"),
            interval_source=IntervalSource.DERIVED,
            open_interest_base=opt_decimal(item, "open_interest", at),
            volume_24h_usd=opt_decimal(item, "24h_amount", at),
            next_funding_at=units.ms_to_utc(req_int(rate_row, "next_funding_time", rate_at)),
        )

    return batched(fast, lambda: market_rows(enumerate(rows), ctx, parse_one))


async def poll(http, observed_at: datetime) -> ParseResult:
    futures = await http.get_json(PATHS[FUTURES])
    funding_rates = await http.get_json(PATHS[FUNDING_RATES])
    return parse_futures(futures, observed_at=observed_at, funding_rates=funding_rates)


def parse_funding_rate_history(payload: Any, *, fallback_hours: Decimal) -> tuple[HistoryResult, bool]:
    """One page -> (prints, whether another page follows by `meta`).

    Provisional interval: the row's next_funding_time - funding_rate_timestamp, or `fallback_hours`
    (the market's current interval) without next_funding_time; `spacing_intervals` refines it.
    """
    rows, ctx = _rows(payload, HISTORY)

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        has_next = item.get("next_funding_time") not in (None, 0)
        return FundingPrint(
            exchange=VENUE.id,
            symbol=req_str(item, "symbol", at),
            funding_time=units.ms_to_utc(req_int(item, "funding_rate_timestamp", at)),
            funding_rate=req_decimal(item, "funding_rate", at),
            funding_rate_raw=str(item["funding_rate"]),
            funding_interval_hours=_span_hours(item, at, "funding_rate_timestamp") if has_next else fallback_hours,
            interval_source=IntervalSource.DERIVED,
        )

    result = history_rows(enumerate(rows), ctx, parse_one)
    meta_at = Ctx(VENUE.id, HISTORY).at("data").at("meta")
    meta = req_dict(payload["data"].get("meta"), meta_at)
    page, per_page = req_int(meta, "current_page", meta_at), req_int(meta, "records_per_page", meta_at)
    more = bool(rows) and len(rows) >= per_page and page * per_page < req_int(meta, "total", meta_at)
    return result, more


def spacing_intervals(prints: list[FundingPrint]) -> list[FundingPrint]:
    """One market's prints, ascending and unique: a settled rate accrued since the settlement
    before it, so that gap is its interval; the oldest print keeps its provisional one."""
    return respace(prints, oldest_takes_next=False)


async def _history_one(http, symbol: str, fallback: Decimal, start: datetime, end: datetime) -> HistoryResult:
    window = {"start_t": str(units.utc_to_ms(start)), "end_t": str(units.utc_to_ms(end))}

    async def fetch(page: int):
        params = {"symbol": symbol, **window, "page": str(page), "size": str(PAGE_SIZE)}
        part, more = parse_funding_rate_history(await http.get_json(PATHS[HISTORY], params), fallback_hours=fallback)
        return part.prints, part.rejected, page + 1 if more else None

    prints, rejected = await walk_pages(fetch, 1, max_pages=MAX_PAGES)
    return HistoryResult(spacing_intervals(unique_ascending(prints)), rejected)


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    rows, ctx = _rows(await http.get_json(PATHS[FUNDING_RATES]), FUNDING_RATES)

    def current_interval(row: Any, at: Ctx) -> tuple[str, Decimal] | None:
        row = req_dict(row, at)
        symbol = req_str(row, "symbol", at)
        if not symbol.startswith("PERP_") or (symbols is not None and symbol not in symbols):
            return None
        return symbol, _span_hours(row, at, "last_funding_rate_timestamp")

    markets, rejected, _ = each_entry(enumerate(rows), ctx, current_interval)
    parts = await http.gather(dict(markets).items(), lambda kv: _history_one(http, kv[0], kv[1], start, end))
    return merge([HistoryResult(rejected=rejected), *parts], start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
