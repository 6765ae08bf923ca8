"""OKX perpetual swaps: USDT-margined (`BTC-USDT-SWAP`) and coin-margined USD (`BTC-USD-SWAP`).

API: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate
Endpoints (GET; envelope {"code": "0", "msg": "", "data": [...]}, numbers and times are strings):
  /api/v5/public/funding-rate?instId=ANY        every swap: fundingRate, fundingTime, nextFundingTime
  /api/v5/public/mark-price?instType=SWAP       markPx
  /api/v5/market/tickers?instType=SWAP          volCcy24h (24h volume in base currency)
  /api/v5/public/open-interest?instType=SWAP    oiCcy (base currency), oiUsd; `oi` counts contracts (unused)
  /api/v5/public/funding-rate-history?instId&after&limit   settled rates, newest first
Rate: `fundingRate`, decimal per period, paid at `fundingTime` (ms). The period varies per swap
(8h default; 6/4/2/1h on volatile swaps): nextFundingTime - fundingTime, as OKX's docs instruct.
History has no interval field: each print's interval is the gap since the print before it.
Volume: volCcy24h x mark price. Index price: not requested (OKX keys index tickers by index, not swap).
Fixtures: fixtures/okx/{funding-rate_ANY,mark-price,tickers,open-interest,funding-rate-history}.*.json
"""

import asyncio
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
    opt_decimal,
    opt_decimals,
    req_decimal,
    req_dict,
    req_int,
    req_list,
    req_str,
    strings,
)
from funding_pipeline.lib.exchanges.history import merge, older_page_from, respace, unique_ascending, walk_pages
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
    id="okx",
    base_url="https://www.okx.com",
    doc_url="https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate",
    interval_hours=None,
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC-USDT-SWAP, BTC-USD-SWAP",
    min_interval_s=0.2,  # funding-rate-history: 10 requests / 2 s per IP
)

QUOTES = ("USDT", "USD")  # USDC-margined swaps are skipped
FUNDING, MARK, TICKERS = "funding-rate", "mark-price", "tickers"
OI, HISTORY = "open-interest", "funding-rate-history"
PATHS = {
    FUNDING: "/api/v5/public/funding-rate",
    MARK: "/api/v5/public/mark-price",
    TICKERS: "/api/v5/market/tickers",
    OI: "/api/v5/public/open-interest",
    HISTORY: "/api/v5/public/funding-rate-history",
}
PAGE_LIMIT = 100  # OKX documents 400 as the maximum; 100 is what every client is known to get
MAX_PAGES = 100
MS_PER_MINUTE = 60_000


def _data(payload: Any, endpoint: str) -> tuple[list, Ctx]:
    ctx = Ctx(VENUE.id, endpoint)
    body = req_dict(payload, ctx)
    if body.get("code") != "0":
        raise ctx.at("code").error(body.get("code"), f"OKX error: {body.get('msg')!r}")
    return req_list(body.get("data"), ctx.at("data")), ctx.at("data")


class _Joined:
    """A payload's rows by `instId`; the Ctx of a row is made only for an error message."""

    def __init__(self, payload: Any, endpoint: str):
        self.rows, self.ctx = _data(payload, endpoint)
        self.index = {
            row["instId"]: i
            for i, row in enumerate(self.rows)
            if isinstance(row, dict) and isinstance(row.get("instId"), str)
        }

    def __contains__(self, inst_id: str) -> bool:
        return inst_id in self.index

    def __getitem__(self, inst_id: str) -> tuple[dict, Ctx]:
        i = self.index[inst_id]
        return self.rows[i], self.ctx.at(i)

    def values(self, inst_ids: list[str], key: str) -> list:
        """`key` of each id's row, None where the id has no row."""
        rows, index = self.rows, self.index
        return [rows[index[i]].get(key) if i in index else None for i in inst_ids]


def _is_wanted(inst_id: str, inst_type: object) -> bool:
    parts = inst_id.split("-")
    return inst_type == "SWAP" and len(parts) == 3 and parts[2] == "SWAP" and parts[1] in QUOTES


def _interval_hours(item: dict, at: Ctx) -> Decimal:
    """nextFundingTime - fundingTime, in whole minutes."""
    span_ms = req_int(item, "nextFundingTime", at) - req_int(item, "fundingTime", at)
    if span_ms <= 0:
        raise at.at("nextFundingTime").error(item["nextFundingTime"], "not after fundingTime")
    return units.minutes_to_hours(Decimal(round(span_ms / MS_PER_MINUTE)))


def parse_funding_rate(
    payload: Any, *, observed_at: datetime, mark_price: Any, tickers: Any, open_interest: Any
) -> ParseResult:
    """Join the four bulk payloads on `instId`; funding-rate lists the markets."""
    rows, ctx = _data(payload, FUNDING)
    marks, volumes, ois = _Joined(mark_price, MARK), _Joined(tickers, TICKERS), _Joined(open_interest, OI)

    def fast() -> ParseResult:
        ids = strings(column(dicts(rows), "instId"))
        keep = [k for k, i in enumerate(ids) if _is_wanted(i, rows[k].get("instType"))]
        entries, symbols = [rows[k] for k in keep], [ids[k] for k in keep]
        mark_rows = dicts([marks.rows[marks.index[s]] for s in symbols])  # a swap without one: KeyError
        mark = decimals(column(mark_rows, "markPx"))
        volume_base = opt_decimals(volumes.values(symbols, "volCcy24h"))
        next_ms, last_ms = ints(column(entries, "nextFundingTime")), ints(column(entries, "fundingTime"))
        spans = [n - last for n, last in zip(next_ms, last_ms, strict=True)]
        if spans and min(spans) <= 0:
            raise Slow
        hours = {span: units.minutes_to_hours(Decimal(round(span / MS_PER_MINUTE))) for span in set(spans)}
        raw = column(entries, "fundingRate")
        built = build_rows(
            VENUE,
            symbols,
            mark,
            [None] * len(symbols),
            decimals(raw),
            raw,
            [hours[span] for span in spans],
            IntervalSource.DERIVED,
            open_interest_base=opt_decimals(ois.values(symbols, "oiCcy")),
            open_interest_usd=opt_decimals(ois.values(symbols, "oiUsd")),
            volumes_24h_usd=[None if v is None else v * m for v, m in zip(volume_base, mark, strict=True)],
            next_funding_at=list(map(units.ms_to_utc, last_ms)),
        )
        return ParseResult(built, [], len(rows) - len(built))

    def parse_one(item: Any, at: Ctx):
        item = req_dict(item, at)
        inst_id = req_str(item, "instId", at)
        if not _is_wanted(inst_id, item.get("instType")):
            return None
        if inst_id not in marks:
            raise at.at("instId").error(inst_id, "no markPx for this swap in mark-price")
        mark_row, mark_at = marks[inst_id]
        mark = req_decimal(mark_row, "markPx", mark_at)
        volume = None
        if inst_id in volumes:
            volume_row, volume_at = volumes[inst_id]
            volume_base = opt_decimal(volume_row, "volCcy24h", volume_at)
            volume = None if volume_base is None else volume_base * mark
        oi_base = oi_usd = None
        if inst_id in ois:
            oi_row, oi_at = ois[inst_id]
            oi_base, oi_usd = opt_decimal(oi_row, "oiCcy", oi_at), opt_decimal(oi_row, "oiUsd", oi_at)
        return make_row(
            VENUE,
            at,
            symbol=inst_id,
            mark_price=mark,
            index_price=None,
            rate=req_decimal(item, "fundingRate", at),
            rate_raw=item["fundingRate"],
            interval_hours=_interval_hours(item, at),
            interval_source=IntervalSource.DERIVED,
            open_interest_base=oi_base,
            open_interest_usd=oi_usd,
            volume_24h_usd=volume,
            next_funding_at=units.ms_to_utc(req_int(item, "fundingTime", at)),
        )

    return batched(fast, lambda: market_rows(enumerate(rows), ctx, parse_one))


async def poll(http, observed_at: datetime) -> ParseResult:
    funding, mark, tickers, oi = await asyncio.gather(
        http.get_json(PATHS[FUNDING], {"instId": "ANY"}),
        http.get_json(PATHS[MARK], {"instType": "SWAP"}),
        http.get_json(PATHS[TICKERS], {"instType": "SWAP"}),
        http.get_json(PATHS[OI], {"instType": "SWAP"}),
    )
    return parse_funding_rate(funding, observed_at=observed_at, mark_price=mark, tickers=tickers, open_interest=oi)


def parse_funding_rate_history(payload: Any, *, interval_hours: Decimal) -> HistoryResult:
    """One page, newest first. `interval_hours` is provisional: `spacing_intervals` replaces it."""
    rows, ctx = _data(payload, HISTORY)

    def parse_one(item: Any, at: Ctx) -> FundingPrint:
        item = req_dict(item, at)
        return FundingPrint(
            exchange=VENUE.id,
            symbol=req_str(item, "instId", at),
            funding_time=units.ms_to_utc(req_int(item, "fundingTime", at)),
            funding_rate=req_decimal(item, "fundingRate", at),
            funding_rate_raw=str(item["fundingRate"]),
            funding_interval_hours=interval_hours,
            interval_source=IntervalSource.DERIVED,
        )

    return history_rows(enumerate(rows), ctx, parse_one)


def spacing_intervals(prints: list[FundingPrint]) -> list[FundingPrint]:
    """One swap's prints, ascending and unique; each print's interval = time since the one before.

    The oldest print takes the spacing to the next one; a lone print keeps its provisional interval.
    """
    return respace(prints, oldest_takes_next=True)


async def _history_one(http, inst_id: str, interval: Decimal, start: datetime, end: datetime) -> HistoryResult:
    async def fetch(after: int):
        params = {"instId": inst_id, "after": str(after), "limit": str(PAGE_LIMIT)}
        page = parse_funding_rate_history(await http.get_json(PATHS[HISTORY], params), interval_hours=interval)
        oldest = older_page_from(page.prints, page_limit=PAGE_LIMIT, start=start)
        return page.prints, page.rejected, None if oldest is None else units.utc_to_ms(oldest)

    # A bad page (e.g. a swap delisted between listing and paging) ends only this swap's history.
    prints, rejected = await walk_pages(fetch, units.utc_to_ms(end), max_pages=MAX_PAGES)
    return HistoryResult(spacing_intervals(unique_ascending(prints)), rejected)


async def history(http, start: datetime, end: datetime, symbols=None) -> HistoryResult:
    rows, ctx = _data(await http.get_json(PATHS[FUNDING], {"instId": "ANY"}), FUNDING)

    def current_interval(item: Any, at: Ctx) -> tuple[str, Decimal] | None:
        item = req_dict(item, at)
        inst_id = req_str(item, "instId", at)
        if not _is_wanted(inst_id, item.get("instType")) or (symbols is not None and inst_id not in symbols):
            return None
        return inst_id, _interval_hours(item, at)

    swaps, rejected, _ = each_entry(enumerate(rows), ctx, current_interval)
    parts = await http.gather(dict(swaps).items(), lambda kv: _history_one(http, kv[0], kv[1], start, end))
    return merge([HistoryResult(rejected=rejected), *parts], start, end)


EXCHANGES = (Exchange(VENUE, poll, history),)
