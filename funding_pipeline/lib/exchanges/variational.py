"""Variational Omni (RFQ perpetuals against the Omni liquidity provider).

API: https://docs.variational.io/technical-documentation/api (read-only REST)
Endpoint: GET /metadata/stats -> {..., "listings": [...]}; one call covers every market.
Rate: `funding_rate`, an ANNUALISED decimal (365-day year), so the published number refers
to 8760 hours; the per-hour rate is funding_rate / 8760. Settlement happens every
`funding_interval_s` (3600, 14400 or 28800 s) at funding_rate * funding_interval_s / 31 536 000.
Evidence and the rejected readings are in docs/venues/variational.md.
Open interest: `open_interest.long_open_interest` + `short_open_interest`, USD notional
(every trader position faces the liquidity provider, so long + short counts each contract once).
Volume: `volume_24h`, USD. No index price in this endpoint. No timestamps besides quotes.
Next funding: not published; the next UTC boundary of `funding_interval_s`.
Symbols: bare `ticker` (`BTC`, `1000000MOG`); `funding_interval_s: 0` marks swaps (skipped).
History: no public endpoint, so `history` is None.
Fixtures: fixtures/variational/metadata_stats.*.json
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
    req_int,
    req_list,
    req_str,
)
from funding_pipeline.lib.exchanges.model import Exchange, ParseResult, RateUnit, Venue

# The quoted rate is per year: 365 days * 24 h. Settlement intervals vary per market and only
# set the payment schedule, not the period the published number refers to.
HOURS_PER_YEAR = Decimal(8760)

VENUE = Venue(
    id="variational",
    base_url="https://omni-client-api.prod.ap-northeast-1.variational.io",
    doc_url="https://docs.variational.io/technical-documentation/api",
    interval_hours=HOURS_PER_YEAR,
    rate_unit=RateUnit.DECIMAL,
    oi_unit="usd",
    symbol_style="BTC, 1000000MOG",
    max_concurrency=1,
    min_interval_s=1.0,  # documented limit: 10 requests / 10 s per IP
)

ENDPOINT = "metadata/stats"


def parse_metadata_stats(payload: Any, *, observed_at: datetime, venue: Venue = VENUE) -> ParseResult:
    ctx = Ctx(venue.id, ENDPOINT)
    listings = req_list(req_dict(payload, ctx).get("listings"), ctx.at("listings"))

    def parse_one(listing: Any, at: Ctx):
        listing = req_dict(listing, at)
        settle_s = req_int(listing, "funding_interval_s", at)
        if settle_s == 0:
            return None  # swaps (`US100S`): no funding payments
        if settle_s < 0:
            raise at.at("funding_interval_s").error(settle_s, "negative settlement interval")
        ticker = req_str(listing, "ticker", at)
        oi_at = at.at("open_interest")
        oi = req_dict(listing.get("open_interest"), oi_at)
        open_interest_usd = req_decimal(oi, "long_open_interest", oi_at) + req_decimal(oi, "short_open_interest", oi_at)
        return make_row(
            venue,
            at,
            symbol=ticker,
            mark_price=req_decimal(listing, "mark_price", at),
            index_price=None,
            rate=req_decimal(listing, "funding_rate", at),
            rate_raw=listing["funding_rate"],
            open_interest_usd=open_interest_usd,
            volume_24h_usd=opt_decimal(listing, "volume_24h", at),
            next_funding_at=units.next_boundary(observed_at, units.seconds_to_hours(Decimal(settle_s))),
            base_hint=ticker,
            settlement_interval_hours=units.seconds_to_hours(Decimal(settle_s)),
        )

    return market_rows(enumerate(listings), ctx.at("listings"), parse_one)


async def poll(http, observed_at: datetime) -> ParseResult:
    payload = await http.get_json("/metadata/stats")
    return parse_metadata_stats(payload, observed_at=observed_at)


EXCHANGES = (Exchange(VENUE, poll, None),)
