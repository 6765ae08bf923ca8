"""GRVT perpetuals (market-data host; every call is a POST with a JSON body).

API: https://api-docs.grvt.io/market_data_api/
Endpoints:
  /full/v1/all_instruments {"is_active": true}  result[]: instrument, base, kind, funding_interval_hours
  /full/v1/ticker {"instrument"}                 one perpetual; GRVT has no all-markets ticker
  /full/v1/funding {"instrument", "start_time", "end_time", "limit", "cursor"}  history, newest first
Rate: `funding_rate` in PERCENTAGE POINTS ("0.0037" = 0.0037 %) per the instrument's
`funding_interval_hours` (1/4/8; a market field, not a venue constant).
Open interest: `open_interest`, base units. Volume: buy_volume_24h_q + sell_volume_24h_q (USDT,
taker buys plus taker sells = all trades).
Timestamps: unix nanoseconds as strings (`next_funding_time`, `funding_time`).
Symbols: BTC_USDT_Perp; KPEPE_USDT_Perp counts 1000 PEPE (its prices and sizes are per 1000).
Fixtures: fixtures/grvt/full_v1_{all_instruments,ticker_*,funding_*}.*.json
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from operator import add
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    Slow,
    batched,
    build_rows,
    by_value,
    column,
    decimals,
    history_rows,
    listed,
    make_row,
    market_rows,
    opt_column,
    opt_decimal,
    opt_decimals,
    opt_epoch_times,
    opt_time,
    price_columns,
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
    id="grvt",
    base_url="https://market-data.grvt.io",
    doc_url="https://api-docs.grvt.io/market_data_api/",
    interval_hours=None,
    rate_unit=RateUnit.PERCENT,
    oi_unit="base",
    symbol_style="BTC_USDT_Perp, KPEPE_USDT_Perp",
    # ccxt prices a ticker at 4 x 10 ms (25/s); 20/s keeps 100 perpetuals within ~5 s.
    max_concurrency=5,
    min_interval_s=0.05,
)

INSTRUMENTS, TICKER, FUNDING = "all_instruments", "ticker", "funding"
PATHS = {INSTRUMENTS: "/full/v1/all_instruments", TICKER: "/full/v1/ticker", FUNDING: "/full/v1/funding"}
HISTORY_LIMIT = 1000  # documented maximum
MAX_PAGES = 200
HISTORY_PAUSE_S = 0.1  # funding calls cost 12 x 10 ms in ccxt: stay under ~8/s with pacing
MAX_INTERVAL = timedelta(hours=8)  # longest interval GRVT uses: fetch this far before `start`
NS = 1_000_000_000


def parse_all_instruments(payload: Any) -> tuple[list[dict], ParseResult]:
    """The active perpetuals; futures and options are counted as skipped, bad entries rejected."""
    ctx = Ctx(VENUE.id, INSTRUMENTS).at("result")
    items = req_list(req_dict(payload, ctx).get("result"), ctx)
    return listed(items, ctx, "instrument", "kind", "PERPETUAL")


def _interval(sources: Iterable[tuple[dict, Ctx]]) -> Decimal | None:
    """`funding_interval_hours` of the instrument, else of the ticker; 0 means 'not stated'."""
    for obj, at in sources:
        if obj.get("funding_interval_hours") not in (None, "", 0, "0"):
            return req_decimal(obj, "funding_interval_hours", at)
    return None


def parse_tickers(tickers: Mapping[str, Any], instruments: Mapping[str, dict], *, observed_at: datetime) -> ParseResult:
    """One `/full/v1/ticker` answer per instrument name, joined to its all_instruments entry."""
    del observed_at  # GRVT publishes next_funding_time itself
    ctx = Ctx(VENUE.id, TICKER)

    def parse_one(item: tuple[dict, Any], at: Ctx):
        meta, payload = item
        res = req_dict(req_dict(payload, at).get("result"), at.at("result"))
        at = at.at("result")
        interval = _interval(((meta, at), (res, at)))
        buy_q, sell_q = opt_decimal(res, "buy_volume_24h_q", at), opt_decimal(res, "sell_volume_24h_q", at)
        return make_row(
            VENUE,
            at,
            symbol=req_str(meta, "instrument", at),
            mark_price=req_decimal(res, "mark_price", at),
            index_price=opt_decimal(res, "index_price", at),
            rate=req_decimal(res, "funding_rate", at),
            rate_raw=res["funding_rate"],
            interval_hours=interval,
            interval_source=IntervalSource.MARKET_FIELD if interval is not None else None,
            open_interest_base=opt_decimal(res, "open_interest", at),
            volume_24h_usd=None if buy_q is None or sell_q is None else buy_q + sell_q,
            next_funding_at=opt_time(res, "next_funding_time", at, units.ns_to_utc),
            base_hint=meta.get("base") if isinstance(meta.get("base"), str) else None,
        )

    def columns() -> dict[str, list]:
        """build_rows' columns; the join's lists are freed on return, before the rows are made."""
        metas = list(map(instruments.__getitem__, tickers))  # a KeyError is raised again by slow()
        results = column(list(tickers.values()), "result")
        oi = opt_decimals(opt_column(results, "open_interest"))
        buys = opt_decimals(opt_column(results, "buy_volume_24h_q"))
        sells = opt_decimals(opt_column(results, "sell_volume_24h_q"))
        if type(None) in set(map(type, buys)) or type(None) in set(map(type, sells)):
            volumes = [None if b is None or q is None else b + q for b, q in zip(buys, sells, strict=True)]
        else:
            volumes = list(map(add, buys, sells))
        times = opt_epoch_times(opt_column(results, "next_funding_time"), units.ns_to_utc)
        stated = opt_column(metas, "funding_interval_hours")
        interval = by_value(stated, decimals)  # None or "" refused here
        if any(h in (0, "0") for h in interval):
            raise Slow  # the ticker's interval, or none: _interval decides per market
        bases = opt_column(metas, "base")
        if not set(map(type, bases)) <= {str}:
            bases = [b if isinstance(b, str) else None for b in bases]
        return {
            "symbols": strings(column(metas, "instrument")),
            **price_columns(results, "mark_price", "index_price", "funding_rate"),
            "intervals": list(map(interval.__getitem__, stated)),
            "interval_source": IntervalSource.MARKET_FIELD,
            "open_interest_base": oi,
            "volumes_24h_usd": volumes,
            "next_funding_at": times,
            "base_hints": bases,
        }

    def fast() -> ParseResult:
        return ParseResult(build_rows(VENUE, **columns()))

    items = ((name, (instruments[name], payload)) for name, payload in tickers.items())
    return batched(fast, lambda: market_rows(items, ctx, parse_one))


async def _perpetuals(http) -> tuple[list[dict], ParseResult]:
    return parse_all_instruments(await http.post_json(PATHS[INSTRUMENTS], {"is_active": True}))


async def poll(http, observed_at: datetime) -> ParseResult:
    perps, result = await _perpetuals(http)
    by_name = {p["instrument"]: p for p in perps}
    # A 4xx for one instrument rejects it; anything retryable fails the poll.
    answers = await http.gather(
        by_name, lambda name: http.post_json(PATHS[TICKER], {"instrument": name}), client_errors=True
    )
    answered = dict(zip(by_name, answers, strict=True))
    tickers = {n: a for n, a in answered.items() if not isinstance(a, HttpStatusError)}
    result.extend(parse_tickers(tickers, by_name, observed_at=observed_at))
    failed = {n: a for n, a in answered.items() if isinstance(a, HttpStatusError)}
    result.rejected += [Ctx(VENUE.id, TICKER).at(n).error(None, str(a)) for n, a in failed.items()]
    return result


def parse_funding(payload: Any, *, instrument: str) -> tuple[HistoryResult, str]:
    """One history page (newest first) and its `next` cursor ("" when there is no more).

    Rows whose `funding_interval_hours` is 0 (older rows) come back with interval 0 and source
    DERIVED; `derive_missing_intervals` replaces it with the spacing to the print before.
    """
    ctx = Ctx(VENUE.id, FUNDING)
    body = req_dict(payload, ctx)
    items = req_list(body.get("result"), ctx.at("result"))

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        stated = item.get("funding_interval_hours") not in (None, "")
        hours = Decimal(req_int(item, "funding_interval_hours", at)) if stated else Decimal(0)
        return FundingPrint(
            exchange=VENUE.id,
            symbol=instrument,
            funding_time=units.ns_to_utc(req_int(item, "funding_time", at)),
            funding_rate=units.percent_to_decimal(req_decimal(item, "funding_rate", at)),
            funding_rate_raw=str(item["funding_rate"]),
            funding_interval_hours=hours,
            interval_source=IntervalSource.MARKET_FIELD if hours else IntervalSource.DERIVED,
        )

    cursor = body.get("next")
    return history_rows(enumerate(items), ctx.at("result"), parse_one), cursor if isinstance(cursor, str) else ""


def derive_missing_intervals(prints: list[FundingPrint]) -> list[FundingPrint]:
    """Ascending prints of one instrument; a 0 interval becomes the time since the print before.

    The oldest print keeps 0 when it has none stated: the caller rejects it rather than guess.
    """
    spaced = respace(prints, oldest_takes_next=False, gap=whole_seconds)
    return [p if p.funding_interval_hours else s for p, s in zip(prints, spaced, strict=True)]


async def _history_one(http, instrument: str, start: datetime, end: datetime) -> HistoryResult:
    lookback = start - MAX_INTERVAL  # one earlier print to space the first one from
    window = {"start_time": str(units.utc_to_s(lookback) * NS), "end_time": str(units.utc_to_s(end) * NS)}
    seen: set[str] = set()

    async def fetch(cursor: str):
        if cursor:
            await http.sleep(HISTORY_PAUSE_S)
        body = {"instrument": instrument, **window, "limit": HISTORY_LIMIT, "cursor": cursor}
        page, after = parse_funding(await http.post_json(PATHS[FUNDING], body), instrument=instrument)
        last = not page.prints or not after or after in seen
        last = last or min(p.funding_time for p in page.prints) < lookback
        seen.add(after)
        return page.prints, page.rejected, None if last else after

    prints, rejected = await walk_pages(fetch, "", max_pages=MAX_PAGES, reject_bad_page=False)
    out = HistoryResult(rejected=rejected)
    for p in derive_missing_intervals(unique_ascending(prints)):
        if not start <= p.funding_time < end:
            continue
        if p.funding_interval_hours > 0:
            out.prints.append(p)
        else:
            at = Ctx(VENUE.id, FUNDING, f"$[{instrument}]")
            out.rejected.append(at.error(p.funding_time.isoformat(), "interval 0 and no earlier print"))
    return out


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    """Settled prints in [start, end) per perpetual, following GRVT's `next` cursor."""
    out = HistoryResult()
    if symbols is None:
        perps, listing = await _perpetuals(http)
        out.rejected.extend(listing.rejected)
        symbols = [p["instrument"] for p in perps]
    # One at a time: funding is GRVT's most expensive public call.
    parts = [await _history_one(http, instrument, start, end) for instrument in symbols]
    return merge([out, *parts], start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
