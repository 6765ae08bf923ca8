"""Hyperliquid perpetuals and its HIP-3 builder dexes.

API: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
Endpoints: POST /info {"type": "metaAndAssetCtxs"[, "dex": "<dex>"]} -> [meta, assetCtxs],
index-aligned (contexts carry no name); POST /info {"type": "fundingHistory", "coin",
"startTime", "endTime"} (ms, both inclusive) -> ascending [{coin, fundingRate, premium, time}].
Rate: `funding`, decimal per 1 hour (fixed interval; hourly since 2023-06-08). History
`fundingRate` is per the period it settled: 8 h until 2023-06-08 00:00 UTC, 1 h since, so each
print's interval is derived from its spacing to the previous print.
Open interest: `openInterest` in base coins. Volume: `dayNtlVlm`, USD notional.
Timestamps: ms. Next funding: not published; settlement is every full hour, so the next UTC hour.
Symbols: `BTC`, `kPEPE` (k = 1000 units); HIP-3 dexes prefix `<dex>:` (`xyz:AAPL`).
Fixtures: fixtures/hyperliquid/info_metaAndAssetCtxs.*.json, info_fundingHistory.*.json
"""

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    each_entry,
    make_print,
    make_row,
    market_rows,
    opt_decimal,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
)
from funding_pipeline.lib.exchanges.history import merge, walk_pages
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
    id="hyperliquid",
    base_url="https://api.hyperliquid.xyz",
    doc_url="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC, kPEPE, xyz:AAPL",
    # 1200 weight/min per IP; fundingHistory weighs 20 + 1 per 20 rows. A poll is one request,
    # so this only paces history: <= 30 requests/min.
    min_interval_s=2.0,
    rate_cap_1h=Decimal("0.04"),  # "funding is capped at 4 %/hour" (docs: trading/funding); HIP-3 dexes too
)

# HIP-3 venue id -> dex name in the request body (the previous system's tracker ids).
HIP3_DEXES = {"hyena": "hyna", "xyz": "xyz", "felix": "flx", "ventuals": "vntl", "kinetiq": "km"}
ENDPOINT = "metaAndAssetCtxs"
HISTORY_ENDPOINT = "fundingHistory"

HOUR_MS = 3_600_000
# The periods Hyperliquid has settled over: 8 h until 2023-06-08, 1 h since.
SETTLEMENT_HOURS = (Decimal(1), Decimal(8))
# History is fetched from this far before `start`, so the first print in the window has a
# predecessor to derive its interval from (two 8-hour settlements plus jitter).
LOOKBACK_MS = 17 * HOUR_MS
MAX_PAGES = 200  # per coin: 200 pages x 500 rows is 11 years of hourly prints


def _meta_body(dex: str | None) -> dict[str, str]:
    return {"type": ENDPOINT} if dex is None else {"type": ENDPOINT, "dex": dex}


def _pairs(payload: Any, ctx: Ctx) -> tuple[list, list]:
    pair = req_list(payload, ctx)
    if len(pair) != 2:
        raise ctx.error(len(pair), "expected [meta, assetCtxs]")
    universe = req_list(req_dict(pair[0], ctx.at(0)).get("universe"), ctx.at(0).at("universe"))
    asset_ctxs = req_list(pair[1], ctx.at(1))
    if len(universe) != len(asset_ctxs):
        # Contexts are matched by index: a length mismatch would shift every market.
        raise ctx.error((len(universe), len(asset_ctxs)), "universe and assetCtxs lengths differ")
    return universe, asset_ctxs


def parse_meta_and_asset_ctxs(payload: Any, *, observed_at: datetime, venue: Venue = VENUE) -> ParseResult:
    ctx = Ctx(venue.id, ENDPOINT)
    universe, asset_ctxs = _pairs(payload, ctx)
    next_funding = units.next_boundary(observed_at, venue.interval_hours)

    def parse_one(item: tuple[dict, dict], at: Ctx):
        meta, asset = req_dict(item[0], at), req_dict(item[1], at)
        if meta.get("isDelisted"):
            return None
        return make_row(
            venue,
            at,
            symbol=req_str(meta, "name", at),
            mark_price=req_decimal(asset, "markPx", at),
            index_price=opt_decimal(asset, "oraclePx", at),
            rate=req_decimal(asset, "funding", at),
            rate_raw=asset["funding"],
            open_interest_base=req_decimal(asset, "openInterest", at),
            volume_24h_usd=opt_decimal(asset, "dayNtlVlm", at),
            next_funding_at=next_funding,
        )

    return market_rows(enumerate(zip(universe, asset_ctxs, strict=True)), ctx.at(1), parse_one)


def parse_coins(payload: Any, *, venue: Venue = VENUE) -> list[str]:
    """Every coin of a metaAndAssetCtxs answer, delisted ones included (their past prints are real)."""
    ctx = Ctx(venue.id, ENDPOINT)
    universe, _ = _pairs(payload, ctx)
    return [req_str(req_dict(m, ctx.at(0).at(i)), "name", ctx.at(0).at(i)) for i, m in enumerate(universe)]


def _interval(gap_ms: int, previous: Decimal | None) -> Decimal | None:
    """Settlement period from the spacing to the neighbouring print, rounded to whole hours.

    A spacing that is no settlement period (2 h: a missed print) keeps the previous interval, and
    1 h never turns back into 8 h: an 8-hour gap in the hourly era is an outage.
    """
    hours = Decimal(round(gap_ms / HOUR_MS))
    if hours not in SETTLEMENT_HOURS or (previous == 1 and hours == 8):
        return previous
    return hours


def _parse_page(payload: Any, venue: Venue, previous: FundingPrint | None) -> tuple[HistoryResult, int | None]:
    ctx = Ctx(venue.id, HISTORY_ENDPOINT)

    def parse_one(item: Any, at: Ctx) -> tuple[tuple[int, str], tuple[Decimal, object, Ctx]]:
        entry = req_dict(item, at)
        key = (req_int(entry, "time", at), req_str(entry, "coin", at))
        return key, (req_decimal(entry, "fundingRate", at), entry["fundingRate"], at)

    parsed, rejected, _ = each_entry(enumerate(req_list(payload, ctx)), ctx, parse_one)
    entries: dict[tuple[int, str], tuple[Decimal, object, Ctx]] = {}
    for key, value in parsed:
        entries.setdefault(key, value)
    ordered = sorted(entries.items())
    result = HistoryResult(rejected=rejected)
    prev_ms = units.utc_to_ms(previous.funding_time) if previous else None
    prev_interval = previous.funding_interval_hours if previous else None
    for n, ((time_ms, coin), (rate, raw, at)) in enumerate(ordered):
        if prev_ms is not None:
            interval = _interval(time_ms - prev_ms, prev_interval)
        elif n + 1 < len(ordered):
            interval = _interval(ordered[n + 1][0][0] - time_ms, None)
        else:
            interval = None
        source = IntervalSource.DERIVED
        if interval is None:  # no neighbour at a settlement spacing: nothing to derive from
            interval, source = venue.interval_hours, IntervalSource.FIXED
        prev_ms, prev_interval = time_ms, interval
        try:
            funding_time = units.ms_to_utc(time_ms)
            result.prints.append(
                make_print(
                    venue,
                    at.at("fundingRate"),
                    symbol=coin,
                    funding_time=funding_time,
                    rate=rate,
                    rate_raw=raw,
                    interval_hours=interval,
                    interval_source=source,
                )
            )
        except ParseError as exc:
            result.rejected.append(exc)
    return result, (ordered[-1][0][0] if ordered else None)


def parse_funding_history(payload: Any, *, venue: Venue = VENUE, previous: FundingPrint | None = None) -> HistoryResult:
    """One fundingHistory page; `previous` is the last print of the page before (for intervals)."""
    return _parse_page(payload, venue, previous)[0]


async def _coin_history(http, venue: Venue, coin: str, start: datetime, end: datetime) -> HistoryResult:
    """Pages forward from `start - LOOKBACK` with startTime = last time + 1 until the window is done."""
    end_ms = units.utc_to_ms(end)
    previous: FundingPrint | None = None

    async def fetch(cursor: int):
        nonlocal previous
        body = {"type": HISTORY_ENDPOINT, "coin": coin, "startTime": cursor, "endTime": end_ms - 1}
        page, last_ms = _parse_page(await http.post_json("/info", body), venue, previous)
        previous = page.prints[-1] if page.prints else previous
        if last_ms is None or last_ms < cursor:  # empty page, or no progress
            return page.prints, page.rejected, None
        # Prints come at or just after each full hour: the next one is due at the hour after the
        # last print, and once that is past the window there is nothing left to ask for.
        done = round(last_ms / HOUR_MS) * HOUR_MS + HOUR_MS >= end_ms
        return page.prints, page.rejected, None if done else last_ms + 1

    first = units.utc_to_ms(start) - LOOKBACK_MS
    cap = Ctx(venue.id, HISTORY_ENDPOINT, f"$[coin={coin}]")
    prints, rejected = await walk_pages(fetch, first, max_pages=MAX_PAGES, cap=cap, reject_bad_page=False)
    return HistoryResult(prints, rejected)


def _poller(venue: Venue, dex: str | None):
    async def poll(http, observed_at: datetime) -> ParseResult:
        payload = await http.post_json("/info", _meta_body(dex))
        return parse_meta_and_asset_ctxs(payload, observed_at=observed_at, venue=venue)

    return poll


def _historian(venue: Venue, dex: str | None):
    async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
        """Settled prints with start <= funding_time < end for every coin of the dex (or `symbols`)."""
        if symbols is None:
            symbols = parse_coins(await http.post_json("/info", _meta_body(dex)), venue=venue)
        per_coin = await http.gather(symbols, lambda coin: _coin_history(http, venue, coin, start, end))
        return merge(per_coin, start, end)

    return history


def _exchange(venue_id: str, dex: str | None) -> Exchange:
    venue = VENUE if dex is None else dataclasses.replace(VENUE, id=venue_id)
    return Exchange(venue, _poller(venue, dex), _historian(venue, dex))


EXCHANGES = (
    _exchange(VENUE.id, None),
    *(_exchange(venue_id, dex) for venue_id, dex in HIP3_DEXES.items()),
)
