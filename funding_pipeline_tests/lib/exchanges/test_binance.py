import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import binance
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
CAPTURE = "fapi_v1_premiumIndex.all_symbols.thirdparty_capture.json"
INFO = "fapi_v1_fundingInfo.thirdparty_capture.json"
TICKER = "fapi_v1_ticker_24hr.all_symbols.docs_example.json"


def parse(premium, info=INFO, ticker=TICKER):
    payload = load("binance", premium) if isinstance(premium, str) else premium
    return binance.parse_premium_index(
        payload,
        observed_at=OBSERVED,
        intervals=binance.parse_funding_info(load("binance", info) if isinstance(info, str) else info),
        volumes=binance.parse_ticker_24hr(load("binance", ticker)),
    )


def test_docs_example_btc_default_interval_and_volume():
    result = parse("fapi_v1_premiumIndex.all_symbols.docs_example.json")

    (btc,) = result.rows
    assert btc.symbol == "BTCUSDT"
    assert btc.mark_price == Decimal("11793.63104562")
    assert btc.index_price == Decimal("11781.80495970")
    assert btc.funding_rate == Decimal("0.00038246")
    assert btc.funding_rate_raw == "0.00038246"
    # BTCUSDT is not listed in fundingInfo: Binance's documented 8 h default.
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.volume_24h_usd == Decimal("15.30000000")  # ticker docs example quoteVolume
    assert btc.next_funding_at == datetime(2020, 8, 14, 8, tzinfo=UTC)  # 1597392000000 ms


def test_capture_negative_rates_multiplier_and_listed_intervals():
    result = parse(CAPTURE)

    rows = {r.symbol: r for r in result.rows}
    assert list(rows) == ["1000SHIBUSDT", "WAXPUSDT", "GTCUSDT", "ENAUSDT", "BLZUSDT"]
    shib = rows["1000SHIBUSDT"]  # price of 1000 SHIB, kept as the venue quotes it
    assert shib.mark_price == Decimal("0.02495400")
    assert shib.funding_rate == Decimal("0.00010000")
    assert normalize(shib.exchange, shib.symbol, shib.base_hint) == ("SHIB", Decimal(1000))
    assert rows["WAXPUSDT"].funding_rate == Decimal("-0.00003174")
    assert rows["ENAUSDT"].funding_rate == Decimal("-0.00034169")
    assert rows["ENAUSDT"].index_price == Decimal("0.65004556")
    # BLZUSDT is listed in fundingInfo with 4 h; GTCUSDT is listed with 8 h.
    assert rows["BLZUSDT"].funding_interval_hours == Decimal(4)
    assert rows["BLZUSDT"].interval_source is IntervalSource.MARKET_FIELD
    assert rows["GTCUSDT"].funding_interval_hours == Decimal(8)
    assert rows["GTCUSDT"].interval_source is IntervalSource.MARKET_FIELD
    assert rows["WAXPUSDT"].interval_source is IntervalSource.FIXED
    assert rows["BLZUSDT"].next_funding_at == datetime(2024, 11, 27, 16, tzinfo=UTC)  # 1732723200000
    assert shib.volume_24h_usd is None  # not in the ticker payload


def test_open_interest_is_not_collected():
    # /fapi/v1/openInterest takes one symbol per call; no all-symbol source exists.
    result = parse(CAPTURE)

    assert {(r.open_interest_base, r.open_interest_usd) for r in result.rows} == {(None, None)}


def test_dated_future_and_btc_quoted_market_are_skipped():
    # Quirk: on USD-M a dated future reports lastFundingRate "0.00000000" (not "" as on COIN-M)
    # with nextFundingTime 0; only the `_` suffix and the zero time tell it apart.
    result = parse(CAPTURE)

    assert result.skipped == 2  # ETHUSDT_250328 (dated), BNBBTC (priced in BTC)
    assert {"ETHUSDT_250328", "BNBBTC"}.isdisjoint(r.symbol for r in result.rows)


def test_bad_market_rejected_others_kept():
    payload = load("binance", CAPTURE)
    payload[2]["markPrice"] = "n/a"  # WAXPUSDT

    result = parse(payload)

    assert "WAXPUSDT" not in {r.symbol for r in result.rows}
    assert len(result.rows) == 4
    (error,) = result.rejected
    assert error.path == "$[2].markPrice"


def test_malformed_interval_rejects_only_its_market():
    info = load("binance", INFO)
    info[0]["fundingIntervalHours"] = "four"  # BLZUSDT

    result = parse(CAPTURE, info=info)

    (error,) = result.rejected
    assert (error.endpoint, error.path) == ("fundingInfo", "$[0].fundingIntervalHours")
    assert [r.symbol for r in result.rows] == ["1000SHIBUSDT", "WAXPUSDT", "GTCUSDT", "ENAUSDT"]


def test_error_envelope_fails_the_poll():
    with pytest.raises(ParseError, match="expected an array"):
        parse({"code": -1003, "msg": "Too many requests"})


def test_history_page_exact_values():
    kept, rejected = binance.parse_funding_rate(load("binance", "fapi_v1_fundingRate.docs_example.json"))

    assert rejected == []
    assert kept == [
        binance.Settlement(1570608000000, Decimal("-0.03750000"), "-0.03750000"),
        binance.Settlement(1570636800000, Decimal("0.00010000"), "0.00010000"),
    ]


def test_history_page_malformed_entry_rejected_with_path():
    page = load("binance", "fapi_v1_fundingRate.docs_example.json")
    del page[1]["fundingTime"]

    kept, rejected = binance.parse_funding_rate(page)

    assert len(kept) == 1
    assert rejected[0].path == "$[1].fundingTime"


def test_lone_print_uses_the_market_interval():
    one = [binance.Settlement(1570608000000, Decimal("0.0001"), "0.0001")]
    start, end = datetime(2019, 10, 9, tzinfo=UTC), datetime(2019, 10, 10, tzinfo=UTC)

    listed = binance.assign_intervals(
        binance.VENUE, "BLZUSDT", one, (Decimal(4), IntervalSource.MARKET_FIELD), start, end
    )
    unknown = binance.assign_intervals(binance.VENUE, "X", one, None, start, end)

    assert listed.prints[0].funding_interval_hours == Decimal(4)
    assert unknown.prints == [] and len(unknown.rejected) == 1


def _entry(ms: int, rate: str) -> dict:
    """A copy of the fundingRate docs example entry with time and rate replaced."""
    entry = copy.deepcopy(load("binance", "fapi_v1_fundingRate.docs_example.json")[1])
    entry.update(fundingTime=ms, fundingRate=rate)
    return entry


def _cassette(name: str, path: str, payload, **params) -> Cassette:
    return cassette(binance.VENUE.base_url + path, payload, params=params, name=name)


def run_history(cassettes, start, end, **kwargs):
    result, _ = replay(binance.VENUE, cassettes, lambda http: binance.EXCHANGES[0].history(http, start, end, **kwargs))
    return result


def test_history_pages_forward_until_an_empty_page():
    # 00:00 (before start, gives 08:00 its predecessor), 08:00, 16:00 (+7 ms jitter), then 20:00
    # after the market moved from 8 h to 4 h; page size 2, so a third, empty page ends it.
    h = 3_600_000
    t0 = 1570608000000  # 2019-10-09 08:00 UTC, the docs example's first print
    pages = [
        _cassette(
            "p1",
            "/fapi/v1/fundingRate",
            [_entry(t0 - 8 * h, "0.00010000"), _entry(t0, "-0.03750000")],
            symbol="BTCUSDT",
            startTime=t0 - 8 * h,
            endTime=1570665599999,
            limit=2,
        ),
        _cassette(
            "p2",
            "/fapi/v1/fundingRate",
            [_entry(t0 + 8 * h + 7, "0.00010000"), _entry(t0 + 12 * h, "0.00002000")],
            startTime=t0 + 1,
        ),
        _cassette("p3", "/fapi/v1/fundingRate", [], startTime=t0 + 12 * h + 1),
        _cassette("info", "/fapi/v1/fundingInfo", load("binance", INFO)),
        _cassette(
            "premium", "/fapi/v1/premiumIndex", load("binance", "fapi_v1_premiumIndex.all_symbols.docs_example.json")
        ),
    ]
    start, end = datetime(2019, 10, 9, 8, tzinfo=UTC), datetime(2019, 10, 10, tzinfo=UTC)

    result = run_history(pages, start, end, page_limit=2)  # symbols=None: perpetuals of premiumIndex

    assert result.rejected == []
    got = [(p.funding_time.hour, p.funding_rate, p.funding_interval_hours, p.interval_source) for p in result.prints]
    assert got == [
        (8, Decimal("-0.03750000"), Decimal(8), IntervalSource.DERIVED),  # 08:00 - 00:00
        (16, Decimal("0.00010000"), Decimal(8), IntervalSource.DERIVED),  # 16:00:00.007 floored
        (20, Decimal("0.00002000"), Decimal(4), IntervalSource.DERIVED),  # 20:00 - 16:00
    ]
    assert {p.symbol for p in result.prints} == {"BTCUSDT"}
