"""Hyperliquid perpetuals and its HIP-3 builder dexes.

API: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
Endpoint: POST /info {"type": "metaAndAssetCtxs"[, "dex": "<dex>"]} -> [meta, assetCtxs],
index-aligned (contexts carry no name).
Rate: `funding`, decimal per 1 hour (fixed interval; hourly since mid-2023).
Open interest: `openInterest` in base coins. Volume: `dayNtlVlm`, USD notional.
Next funding: not published; settlement is every full hour, so the next UTC hour boundary.
Symbols: `BTC`, `kPEPE` (k = 1000 units); HIP-3 dexes prefix `<dex>:` (`xyz:AAPL`).
Fixtures: fixtures/hyperliquid/info_metaAndAssetCtxs.*.json
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import (
    Ctx,
    make_row,
    market_rows,
    opt_decimal,
    req_decimal,
    req_dict,
    req_list,
    req_str,
)
from funding_pipeline.lib.exchanges.model import Exchange, ParseResult, RateUnit, Venue

VENUE = Venue(
    id="hyperliquid",
    base_url="https://api.hyperliquid.xyz",
    doc_url="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals",
    interval_hours=Decimal(1),
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",
    symbol_style="BTC, kPEPE, xyz:AAPL",
)

# HIP-3 venue id -> dex name in the request body (the previous system's tracker ids).
HIP3_DEXES = {"hyena": "hyna", "xyz": "xyz", "felix": "flx", "ventuals": "vntl", "kinetiq": "km"}
ENDPOINT = "metaAndAssetCtxs"


def parse_meta_and_asset_ctxs(payload: Any, *, observed_at: datetime, venue: Venue = VENUE) -> ParseResult:
    ctx = Ctx(venue.id, ENDPOINT)
    pair = req_list(payload, ctx)
    if len(pair) != 2:
        raise ctx.error(len(pair), "expected [meta, assetCtxs]")
    universe = req_list(req_dict(pair[0], ctx.at(0)).get("universe"), ctx.at(0).at("universe"))
    asset_ctxs = req_list(pair[1], ctx.at(1))
    if len(universe) != len(asset_ctxs):
        # Contexts are matched by index: a length mismatch would shift every market.
        raise ctx.error((len(universe), len(asset_ctxs)), "universe and assetCtxs lengths differ")
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


def _poller(venue: Venue, dex: str | None):
    body = {"type": ENDPOINT} if dex is None else {"type": ENDPOINT, "dex": dex}

    async def poll(http, observed_at: datetime) -> ParseResult:
        payload = await http.post_json("/info", body)
        return parse_meta_and_asset_ctxs(payload, observed_at=observed_at, venue=venue)

    return poll


def _hip3(venue_id: str, dex: str) -> Exchange:
    venue = Venue(**{**{f: getattr(VENUE, f) for f in VENUE.__slots__}, "id": venue_id})
    return Exchange(venue, _poller(venue, dex))


EXCHANGES = (
    Exchange(VENUE, _poller(VENUE, None)),
    *(_hip3(venue_id, dex) for venue_id, dex in HIP3_DEXES.items()),
)
