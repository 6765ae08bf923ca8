"""Aster (asterdex) USD perpetuals: the Binance futures dialect under /fapi/v3.

API: https://github.com/asterdex/api-docs (V3, "aster-finance-futures-api-v3.md")
Endpoints: GET /fapi/v3/premiumIndex, /fapi/v3/fundingInfo, /fapi/v3/ticker/24hr (all markets);
history GET /fapi/v3/fundingRate (ascending, <=1000 per page). Parsing, skip rules and pagination
are Binance's (`binance.py`); see that module for the fields.
Rate: `lastFundingRate`, decimal per the symbol's interval. Interval: `fundingIntervalHours` from
fundingInfo (MARKET_FIELD); a symbol missing from it gets the Binance 8 h default (FIXED).
Open interest: GET /fapi/v1/openInterest?symbol= (the Binance route; undocumented by Aster, called
per symbol by the previous system), a rotating share of symbols per slot as for Binance.
Timestamps: int ms. Symbols: BTCUSDT, ZORAUSDT.
Fixtures: fixtures/aster/fapi_v3_*.json, fapi_v1_openInterest.*.json
"""

from funding_pipeline.lib.exchanges import binance
from funding_pipeline.lib.exchanges.model import Exchange, RateUnit, Venue

VENUE = Venue(
    id="aster",
    base_url="https://fapi.asterdex.com",
    doc_url="https://github.com/asterdex/api-docs",
    interval_hours=None,  # 8 h / 4 h / 1 h per symbol in fundingInfo
    rate_unit=RateUnit.DECIMAL,
    oi_unit="base",  # per-symbol openInterest, a rotating share per slot
    symbol_style="BTCUSDT",
)
API = "/fapi/v3"
# 2400 weight/min (exchangeInfo rateLimits); premiumIndex 1 + fundingInfo 1 + ticker/24hr 40 per poll.
OPEN_INTEREST = binance.OpenInterestSource(
    "/fapi/v1/openInterest", binance.oi_calls_per_slot(2400, bulk_weight=42), binance.OI_REFRESH_SLOTS
)

EXCHANGES = (Exchange(VENUE, binance.poller(VENUE, API, OPEN_INTEREST), binance.historian(VENUE, API, pause_s=0.1)),)
