"""Aster speaks the Binance futures dialect: these tests pin Aster's payloads and /fapi/v3 routes."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import aster, binance
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
EDITED = "fapi_v3_premiumIndex.all_symbols.edited_ccxt_comment_example.json"


def parse(payload):
    return binance.parse_premium_index(
        payload,
        observed_at=OBSERVED,
        intervals=binance.parse_funding_info(load("aster", "fapi_v3_fundingInfo.docs_example.json"), venue=aster.VENUE),
        volumes=binance.parse_ticker_24hr(load("aster", "fapi_v3_ticker_24hr.all_symbols.docs_example.json")),
        venue=aster.VENUE,
    )


def test_real_capture_btc():
    result = parse(load("aster", "fapi_v3_premiumIndex.all_symbols.ccxt_comment_example.json"))

    (btc,) = result.rows
    assert btc.exchange == "aster"
    assert btc.mark_price == Decimal("106729.84047826")
    assert btc.index_price == Decimal("106775.72673913")
    assert btc.funding_rate == Decimal("0.00010000")
    # BTCUSDT is absent from the fundingInfo example (INJUSDT, ZORAUSDT): 8 h default.
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.next_funding_at == datetime(2025, 6, 17, 8, tzinfo=UTC)  # 1750147200000 ms
    assert btc.volume_24h_usd == Decimal("15.30000000")
    assert btc.open_interest_base is None and btc.open_interest_usd is None  # OI comes per symbol (below)


def test_negative_rate_on_a_4h_market():
    result = parse(load("aster", EDITED))

    zora = {r.symbol: r for r in result.rows}["ZORAUSDT"]
    assert zora.funding_rate == Decimal("-0.00005000")
    assert zora.funding_interval_hours == Decimal(4)  # fundingInfo docs example
    assert zora.interval_source is IntervalSource.MARKET_FIELD
    assert zora.volume_24h_usd is None  # not in the ticker example


def test_multiplier_market_keeps_the_venue_unit():
    result = parse(load("aster", "fapi_v3_premiumIndex.all_symbols.edited_multiplier_ccxt_comment_example.json"))

    pepe = {r.symbol: r for r in result.rows}["1000PEPEUSDT"]  # prices are per 1000 PEPE
    assert pepe.mark_price == Decimal("0.00594957")
    assert pepe.index_price == Decimal("0.00594801")
    assert pepe.funding_rate == Decimal("0.00010000")
    # Not in fundingInfo: the 8 h default.
    assert (pepe.funding_interval_hours, pepe.interval_source) == (Decimal(8), IntervalSource.FIXED)
    assert pepe.next_funding_at == datetime(2025, 6, 17, 8, tzinfo=UTC)  # 1750147200000 ms
    base, multiplier = normalize(pepe.exchange, pepe.symbol, pepe.base_hint)
    assert (base, multiplier) == ("PEPE", Decimal(1000))
    assert pepe.mark_price / multiplier == Decimal("0.00000594957")  # price of one PEPE


def test_settled_market_skipped_bad_market_rejected():
    payload = load("aster", EDITED)
    payload[0]["nextFundingTime"] = 0  # edit: BTCUSDT no longer settles funding
    payload[1]["lastFundingRate"] = "0.0001%"  # edit: ZORAUSDT malformed

    result = parse(payload)

    assert result.rows == [] and result.skipped == 1
    assert [e.path for e in result.rejected] == ["$[1].lastFundingRate"]


def test_error_object_instead_of_array_fails_the_poll():
    with pytest.raises(ParseError, match="aster premiumIndex"):
        parse({"code": -1121, "msg": "Invalid symbol."})


def test_history_uses_v3_route_and_pages_forward():
    page = load("aster", "fapi_v3_fundingRate.docs_example.json")  # 08:00 and 16:00, 2019-10-09
    start, end = datetime(2019, 10, 9, tzinfo=UTC), datetime(2019, 10, 10, tzinfo=UTC)
    base = aster.VENUE.base_url + "/fapi/v3"

    def answer(path, payload, **params):
        return cassette(base + path, payload, params=params, name=path)

    cassettes = (  # the first page starts 8 h before `start`, to find a predecessor
        answer("/fundingRate", page, symbol="BTCUSDT", startTime=1570550400000, limit=2),
        answer("/fundingRate", [], symbol="BTCUSDT", startTime=1570636800001),
        answer("/fundingInfo", load("aster", "fapi_v3_fundingInfo.docs_example.json")),
    )

    result, _ = replay(
        aster.VENUE, cassettes, lambda http: aster.EXCHANGES[0].history(http, start, end, ["BTCUSDT"], page_limit=2)
    )

    assert [(p.funding_time.hour, p.funding_rate) for p in result.prints] == [
        (8, Decimal("-0.03750000")),
        (16, Decimal("0.00010000")),
    ]
    # 08:00 has no predecessor in range: the gap to 16:00 (8 h) is its interval.
    assert {(p.funding_interval_hours, p.interval_source) for p in result.prints} == {
        (Decimal(8), IntervalSource.DERIVED)
    }
    assert {p.exchange for p in result.prints} == {"aster"}


def test_open_interest_per_symbol_on_the_v1_route():
    # Aster documents no open-interest route; the Binance one under /fapi/v1 is what the previous
    # system called per symbol. The ZORAUSDT answer is the BTCUSDT fixture with `symbol` replaced.
    base = aster.VENUE.base_url
    oi = load("aster", "fapi_v1_openInterest.edited_binance_ccxt_comment_example.json")
    cassettes = (
        cassette(base + "/fapi/v3/premiumIndex", load("aster", EDITED)),
        cassette(base + "/fapi/v3/fundingInfo", load("aster", "fapi_v3_fundingInfo.docs_example.json")),
        cassette(base + "/fapi/v3/ticker/24hr", load("aster", "fapi_v3_ticker_24hr.all_symbols.docs_example.json")),
        cassette(base + "/fapi/v1/openInterest", oi, params={"symbol": "BTCUSDT"}),
        cassette(base + "/fapi/v1/openInterest", {**oi, "symbol": "ZORAUSDT"}, params={"symbol": "ZORAUSDT"}),
    )
    poll = binance.poller(aster.VENUE, aster.API, aster.OPEN_INTEREST)  # fresh rotation state

    result, requests = replay(aster.VENUE, cassettes, lambda http: poll(http, OBSERVED))

    assert aster.OPEN_INTEREST.per_slot == 108  # 2400 / 4 / 4 slots = 150, minus 1 + 1 + 40 for the bulk calls
    assert requests == 3 + 2 and result.rejected == []
    btc, zora = result.rows
    assert btc.open_interest_base == Decimal("6094.795")
    assert btc.open_interest_usd == Decimal("650496498.09769665670")  # 6094.795 * 106729.84047826
    assert zora.funding_rate == Decimal("-0.00005000")
    assert zora.open_interest_usd == Decimal("650496498.09769665670")  # same edited mark and OI
