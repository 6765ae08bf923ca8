"""Ethereal perpetuals (USDe-margined, Pyth Lazer oracle).

API: https://docs.ethereal.trade/developer-guides/trading-api/products
Endpoints: GET /v1/product (page {"data", "hasNext", "nextCursor"}; market stats, no prices),
GET /v1/product/market-price?productIds=<uuid>&productIds=... (1-50 ids per call),
GET /v1/funding?productId&range=DAY|WEEK|MONTH&order&limit&cursor (history, trailing window only).
Rate: `fundingRate1h`, decimal per 1 hour (fixed; the name and the SDK say "hourly").
Prices: `oraclePrice` is the mark (the venue marks at the Pyth oracle), so mark = index.
Open interest: `openInterest` counts BOTH sides in base units; halved to the one-side figure.
Volume: `volume24h` in base units, valued at the oracle price. Timestamps: int ms.
Next funding: not published; settlement is hourly on the UTC hour (`fundingUpdatedAt` is hour-aligned).
Symbols: `ticker` (`BTCUSD`); API calls use the product UUID `id`; `baseTokenName` is the base.
Fixtures: fixtures/ethereal/v1_product*.json, v1_product_market-price.*.json, v1_funding.*.json
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    history_rows,
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
    id="ethereal",
    base_url="https://api.ethereal.trade",
    doc_url="https://docs.ethereal.trade/developer-guides/trading-api/products",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTCUSD",
    max_concurrency=2,
    min_interval_s=0.2,  # no published limit; the previous importer paced pages 0.2 s apart
)

PRODUCTS, PRICES, FUNDING = "product", "product/market-price", "funding"
PAGE_LIMIT = 200
MAX_PAGES = 10  # 2000 products / 2000 hourly prints (a MONTH window holds ~744)
PRICE_BATCH = 50  # documented maximum of productIds per market-price call
PERP_ENGINE = 0  # engineType 0 = perpetual, 1 = spot


class Page(NamedTuple):
    items: list
    has_next: bool
    next_cursor: str | None


def parse_page(payload: Any, ctx: Ctx) -> Page:
    """The paginated envelope shared by every list endpoint; a wrong one fails the whole call."""
    body = req_dict(payload, ctx)
    items = req_list(body.get("data"), ctx.at("data"))
    cursor = body.get("nextCursor")
    return Page(items, body.get("hasNext") is True, cursor if isinstance(cursor, str) and cursor else None)


def is_tradable_perp(product: Any) -> bool:
    """Perpetual engine and not PENDING; a product without `status` (older docs examples) counts."""
    if not isinstance(product, dict):
        return True  # let the parser reject it with its path
    return product.get("engineType") == PERP_ENGINE and product.get("status", "ACTIVE") == "ACTIVE"


def _product_id(product: Any) -> str | None:
    value = product.get("id") if isinstance(product, dict) else None
    return value if isinstance(value, str) and value else None


def parse_products(products: Any, prices: Any, *, observed_at: datetime, venue: Venue = VENUE) -> ParseResult:
    """`products`: a /v1/product page; `prices`: a market-price answer ({"data": [...]})."""
    items = parse_page(products, Ctx(venue.id, PRODUCTS)).items
    price_ctx = Ctx(venue.id, PRICES)
    by_id: dict[str, tuple[dict, Ctx]] = {}
    for i, entry in enumerate(req_list(req_dict(prices, price_ctx).get("data"), price_ctx.at("data"))):
        if isinstance(entry, dict) and isinstance(entry.get("productId"), str):
            by_id[entry["productId"]] = (entry, price_ctx.at("data").at(i))
    next_funding = units.next_boundary(observed_at, venue.interval_hours)

    def parse_one(product: Any, at: Ctx):
        product = req_dict(product, at)
        if not is_tradable_perp(product):
            return None
        product_id = req_str(product, "id", at)
        if product_id not in by_id:
            raise at.at("id").error(product_id, "no market price returned for this product")
        price, price_at = by_id[product_id]
        oracle = req_decimal(price, "oraclePrice", price_at)
        volume_base = opt_decimal(product, "volume24h", at)
        return make_row(
            venue,
            at,
            symbol=req_str(product, "ticker", at),
            mark_price=oracle,
            index_price=oracle,
            rate=req_decimal(product, "fundingRate1h", at),
            rate_raw=product["fundingRate1h"],
            # "OI of both sides": each open contract is counted once long, once short.
            open_interest_base=req_decimal(product, "openInterest", at) / 2,
            volume_24h_usd=None if volume_base is None else volume_base * oracle,
            next_funding_at=next_funding,
            base_hint=product.get("baseTokenName") or None,
        )

    return market_rows(enumerate(items), Ctx(venue.id, PRODUCTS).at("data"), parse_one)


class FundingPage(NamedTuple):
    prints: list[FundingPrint]
    rejected: list[ParseError]
    page: Page


def parse_funding(payload: Any, *, symbol: str, venue: Venue = VENUE) -> FundingPage:
    """One /v1/funding page: settled hourly rates of one product."""
    ctx = Ctx(venue.id, FUNDING)
    page = parse_page(payload, ctx)

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        rate = req_decimal(item, "fundingRate1h", at)
        return FundingPrint(
            exchange=venue.id,
            symbol=symbol,
            funding_time=units.ms_to_utc(req_int(item, "createdAt", at)),
            funding_rate=rate,
            funding_rate_raw=str(item["fundingRate1h"]),
            funding_interval_hours=venue.interval_hours,
            interval_source=IntervalSource.FIXED,
        )

    result = history_rows(enumerate(page.items), ctx.at("data"), parse_one)
    return FundingPage(result.prints, result.rejected, page)


async def _all_products(http) -> list:
    params: dict[str, Any] = {"order": "asc", "orderBy": "createdAt", "limit": PAGE_LIMIT}
    items: list = []
    for _ in range(MAX_PAGES):
        page = parse_page(await http.get_json("/v1/product", params), Ctx(VENUE.id, PRODUCTS))
        items.extend(page.items)
        if not page.has_next or not page.next_cursor or not page.items:
            break
        params = {**params, "cursor": page.next_cursor}
    return items


async def poll(http, observed_at: datetime) -> ParseResult:
    products = await _all_products(http)
    ids = [_product_id(p) for p in products if is_tradable_perp(p) and _product_id(p)]
    batches = [ids[i : i + PRICE_BATCH] for i in range(0, len(ids), PRICE_BATCH)]
    answers = await http.gather(batches, lambda batch: http.get_json("/v1/product/market-price", {"productIds": batch}))
    ctx = Ctx(VENUE.id, PRICES)
    prices = [e for a in answers for e in req_list(req_dict(a, ctx).get("data"), ctx.at("data"))]
    return parse_products({"data": products}, {"data": prices}, observed_at=observed_at)


def history_range(start: datetime, now: datetime) -> str:
    """The smallest trailing window reaching back to `start`; older prints are not served."""
    age = now - start
    return "DAY" if age <= timedelta(days=1) else "WEEK" if age <= timedelta(days=7) else "MONTH"


async def history(http, start: datetime, end: datetime, symbols=None, *, now: datetime | None = None) -> HistoryResult:
    """Settled hourly prints with start <= time < end, newest-first pages per product."""
    window = history_range(start, now or datetime.now(UTC))
    products = [p for p in await _all_products(http) if is_tradable_perp(p)]
    targets = [
        (p["id"], p["ticker"])
        for p in products
        if _product_id(p) and isinstance(p.get("ticker"), str)
        if symbols is None or p["ticker"] in symbols
    ]

    async def one(target: tuple[str, str]) -> HistoryResult:
        product_id, symbol = target

        async def fetch(params: dict[str, Any]):
            parsed = parse_funding(await http.get_json("/v1/funding", params), symbol=symbol)
            page = parsed.page
            reached_start = any(p.funding_time < start for p in parsed.prints)
            last = reached_start or not page.items or not page.has_next or not page.next_cursor
            return parsed.prints, parsed.rejected, None if last else {**params, "cursor": page.next_cursor}

        first = {"productId": product_id, "range": window, "order": "desc", "orderBy": "createdAt", "limit": PAGE_LIMIT}
        return HistoryResult(*await walk_pages(fetch, first, max_pages=MAX_PAGES, reject_bad_page=False))

    return merge(await http.gather(targets, one), start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
