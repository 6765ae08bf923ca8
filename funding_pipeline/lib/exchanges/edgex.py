"""edgeX perpetuals (V1 public REST API, host pro.edgex.exchange).

API: https://edgex-1.gitbook.io/edgeX-documentation/api/public-api (Quote API, Funding API)
Endpoints: GET /api/v1/public/quote/getTicker (all contracts: prices, OI, volume, funding times)
  + GET /api/v1/public/funding/getLatestFundingRate (all contracts: rate and its interval),
  joined by the numeric-string `contractId`; history: GET /api/v1/public/funding/getFundingRatePage
  per contract, settlement rows only, `offsetData` cursor.
Rate: `fundingRate`, decimal per the contract's own interval; `fundingRateIntervalMin` (minutes,
BTC 240 = 4 h) is the interval (market field). Mark price: `oraclePrice` (edgeX has no separate
mark price; positions are valued at the oracle price). Index: `indexPrice`.
Open interest: `openInterest` in contract base units (1000PEPEUSDT counts 1000-PEPE units).
Volume: `value`, 24 h turnover in USD. Timestamps: ms, written as JSON strings.
Symbols: `contractName` (`BTCUSDT`, `BTCUSD`); never parsed here, markets join by `contractId`.
Fixtures: fixtures/edgex/api_v1_public_{quote_getTicker,funding_getLatestFundingRate,
funding_getFundingRatePage}.*.json
"""

from datetime import datetime
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    history_rows,
    make_print,
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
    id="edgex",
    base_url="https://pro.edgex.exchange",
    doc_url="https://edgex-1.gitbook.io/edgeX-documentation/api/public-api",
    interval_hours=None,  # per contract: fundingRateIntervalMin
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTCUSDT (contractId 10000001)",
    max_concurrency=2,  # per-contract history calls draw HTTP 429 when fired in bulk
    min_interval_s=0.3,
)
TICKER = "/api/v1/public/quote/getTicker"
LATEST_FUNDING = "/api/v1/public/funding/getLatestFundingRate"
FUNDING_PAGE = "/api/v1/public/funding/getFundingRatePage"
PAGE_ENDPOINT = "getFundingRatePage"
PAGE_SIZE = 100  # documented maximum of `size`
MAX_PAGES = 200  # 20 000 settlements per contract: years at 4 h


def _data(payload: Any, ctx: Ctx) -> Any:
    body = req_dict(payload, ctx)
    if body.get("code") != "SUCCESS":
        raise ctx.at("code").error(body.get("code"), "edgeX answered without code SUCCESS")
    return req(body, "data", ctx)


def _contracts(payload: Any, ctx: Ctx) -> list:
    items = req_list(_data(payload, ctx), ctx.at("data"))
    if not items:
        # The all-contracts form of these calls has been seen answering `"data": []`:
        # that is a failed poll, never "edgeX has no markets".
        raise ctx.at("data").error(items, "no contracts in the answer")
    return items


def parse_latest_funding_rate(payload: Any) -> dict[str, tuple[Ctx, Any]]:
    """`getLatestFundingRate` entries by contractId, each with its path for error messages."""
    ctx = Ctx(VENUE.id, "getLatestFundingRate")
    found = {}
    for i, item in enumerate(_contracts(payload, ctx)):
        if isinstance(item, dict) and isinstance(item.get("contractId"), str):
            found[item["contractId"]] = (ctx.at("data").at(i), item)
    return found


def parse_ticker(payload: Any, *, observed_at: datetime, funding: dict[str, tuple[Ctx, Any]]) -> ParseResult:
    """One row per `getTicker` contract; rate and interval come from its `funding` entry."""
    ctx = Ctx(VENUE.id, "getTicker")

    def parse_one(item: Any, at: Ctx):
        ticker = req_dict(item, at)
        contract_id = req_str(ticker, "contractId", at)
        if contract_id not in funding:
            raise at.at("contractId").error(contract_id, "no getLatestFundingRate entry for this contract")
        f_at, entry = funding[contract_id]
        entry = req_dict(entry, f_at)
        return make_row(
            VENUE,
            at,
            symbol=req_str(ticker, "contractName", at),
            mark_price=req_decimal(ticker, "oraclePrice", at),
            index_price=opt_decimal(ticker, "indexPrice", at),
            rate=req_decimal(entry, "fundingRate", f_at),
            rate_raw=entry["fundingRate"],
            interval_hours=units.minutes_to_hours(req_decimal(entry, "fundingRateIntervalMin", f_at)),
            interval_source=IntervalSource.MARKET_FIELD,
            open_interest_base=opt_decimal(ticker, "openInterest", at),
            volume_24h_usd=opt_decimal(ticker, "value", at),
            next_funding_at=opt_time(ticker, "nextFundingTime", at, units.ms_to_utc),
        )

    return market_rows(enumerate(_contracts(payload, ctx)), ctx.at("data"), parse_one)


async def poll(http, observed_at: datetime) -> ParseResult:
    tickers = await http.get_json(TICKER)
    funding = parse_latest_funding_rate(await http.get_json(LATEST_FUNDING))
    return parse_ticker(tickers, observed_at=observed_at, funding=funding)


def parse_funding_rate_page(
    payload: Any, *, symbol: str, start: datetime, end: datetime
) -> tuple[HistoryResult, str | None, int]:
    """Settlement prints in [start, end) of one page, the next `offsetData` and the row count."""
    ctx = Ctx(VENUE.id, PAGE_ENDPOINT)
    page = req_dict(_data(payload, ctx), ctx.at("data"))
    items = req_list(req(page, "dataList", ctx.at("data")), ctx.at("data").at("dataList"))

    def parse_one(item: Any, at: Ctx) -> FundingPrint | None:
        row = req_dict(item, at)
        if row.get("isSettlement") is False:
            return None  # a per-minute calculation row, not a settlement
        when = units.ms_to_utc(req_int(row, "fundingTime", at))
        if not start <= when < end:
            return None
        interval = units.minutes_to_hours(req_decimal(row, "fundingRateIntervalMin", at))
        return make_print(
            VENUE,
            at,
            symbol=symbol,
            funding_time=when,
            rate=req_decimal(row, "fundingRate", at),
            rate_raw=row["fundingRate"],
            interval_hours=interval,
            interval_source=IntervalSource.MARKET_FIELD,
        )

    cursor = page.get("nextPageOffsetData")
    result = history_rows(enumerate(items), ctx.at("data").at("dataList"), parse_one)
    return result, (str(cursor) if cursor else None), len(items)


async def _contract_history(
    http, contract_id: str, symbol: str, start: datetime, end: datetime, page_size: int
) -> HistoryResult:
    params = {
        "contractId": contract_id,
        "size": page_size,
        "filterSettlementFundingRate": "true",
        "filterBeginTimeInclusive": units.utc_to_ms(start),
        "filterEndTimeExclusive": units.utc_to_ms(end),
    }

    async def fetch(cursor: str | None):
        payload = await http.get_json(FUNDING_PAGE, {**params, "offsetData": cursor} if cursor else params)
        page, next_cursor, count = parse_funding_rate_page(payload, symbol=symbol, start=start, end=end)
        last = not next_cursor or next_cursor == cursor or count < page_size
        return page.prints, page.rejected, None if last else next_cursor

    cap = Ctx(VENUE.id, PAGE_ENDPOINT, f"$[{contract_id}]")
    return HistoryResult(*await walk_pages(fetch, None, max_pages=MAX_PAGES, cap=cap))


async def history(http, start: datetime, end: datetime, symbols=None, *, page_size: int = PAGE_SIZE) -> HistoryResult:
    """Settled prints of every contract `getTicker` lists (or the `contractName`s in `symbols`)."""
    ctx = Ctx(VENUE.id, "getTicker")
    contracts = [
        (c["contractId"], c["contractName"])
        for c in _contracts(await http.get_json(TICKER), ctx)
        if isinstance(c, dict) and isinstance(c.get("contractId"), str) and isinstance(c.get("contractName"), str)
    ]
    if symbols is not None:
        contracts = [c for c in contracts if c[1] in set(symbols)]
    parts = await http.gather(contracts, lambda c: _contract_history(http, c[0], c[1], start, end, page_size))
    return merge(parts, start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
