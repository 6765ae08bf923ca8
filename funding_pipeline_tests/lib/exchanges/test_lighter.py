from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import lighter
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError, RateUnit
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import FIXTURES, load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
BASE = "https://mainnet.zklighter.elliot.ai/api/v1/"


def _parse_edited():
    return lighter.parse_order_book_details(
        load("lighter", "orderBookDetails.edited_ccxt_fixture.json"),
        load("lighter", "funding-rates.edited_ccxt_fixture.json"),
        observed_at=OBSERVED,
    )


def test_eth_rate_is_an_8h_decimal_joined_by_market_id():
    result = _parse_edited()

    eth = next(r for r in result.rows if r.symbol == "ETH")
    assert eth.funding_rate == Decimal("0.00009599999999999999")  # as published, decimal per 8 h
    assert eth.funding_rate_raw == "0.00009599999999999999"
    assert eth.rate_unit is RateUnit.DECIMAL
    assert eth.funding_interval_hours == Decimal(8)
    assert eth.settlement_interval_hours == Decimal(1)  # quoted per 8 h, paid every hour
    assert eth.interval_source is IntervalSource.FIXED
    assert eth.mark_price == Decimal("3551.02")
    assert eth.index_price == Decimal("3552.40")
    assert eth.open_interest_base == Decimal("39559.3278")
    assert eth.open_interest_usd == Decimal("140475964.204356")  # 39559.3278 * 3551.02
    assert eth.volume_24h_usd == Decimal("1671431095.263844")
    assert eth.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)  # hourly settlement
    assert eth.base_hint is None


def test_btc_negative_rate_and_oi():
    result = _parse_edited()

    btc = next(r for r in result.rows if r.symbol == "BTC")
    # -0.000016 per 8 h = -0.000002 per hour = -0.0002 %/h, the `fundings` "short" row's size
    assert btc.funding_rate == Decimal("-0.000016")
    assert btc.mark_price == Decimal("89947.0")
    assert btc.index_price == Decimal("89973.0")
    assert btc.open_interest_usd == Decimal("199103174.86488")  # 2213.56104 * 89947.0
    assert btc.volume_24h_usd == Decimal("19772366351.946854")


def test_multiplier_market_keeps_its_own_units_and_optional_fields_absent():
    result = _parse_edited()

    pepe = next(r for r in result.rows if r.symbol == "1000PEPE")
    assert pepe.mark_price == Decimal("0.006532")  # price of 1000 PEPE
    assert pepe.open_interest_base == Decimal("2140551204.0")  # in 1000PEPE units
    assert pepe.open_interest_usd == Decimal("13982080.464528")  # 2140551204.0 * 0.006532
    assert normalize(pepe.exchange, pepe.symbol, pepe.base_hint) == ("PEPE", Decimal(1000))
    assert pepe.index_price is None
    assert pepe.volume_24h_usd is None


def test_inactive_and_spot_markets_are_skipped():
    result = _parse_edited()

    assert [r.symbol for r in result.rows] == ["ETH", "BTC", "1000PEPE"]
    assert result.skipped == 2  # OLD (status inactive) + ETH/USDC (spot_order_book_details)
    assert result.rejected == []


def test_other_venues_rows_of_funding_rates_are_ignored():
    # Quirk: funding-rates lists binance/bybit/hyperliquid rows under the same market_id as
    # Lighter's own; only exchange == "lighter" may be joined.
    rates = load("lighter", "funding-rates.edited_ccxt_fixture.json")
    rates["funding_rates"] = [r for r in rates["funding_rates"] if r["symbol"] != "BTC" or r["exchange"] != "lighter"]

    result = lighter.parse_order_book_details(
        load("lighter", "orderBookDetails.edited_ccxt_fixture.json"), rates, observed_at=OBSERVED
    )

    assert [r.symbol for r in result.rows] == ["ETH", "1000PEPE"]
    (error,) = result.rejected
    assert error.path == "$.order_book_details[1]"
    assert "no lighter row" in error.reason


def test_bad_market_rejected_others_kept():
    details = load("lighter", "orderBookDetails.edited_ccxt_fixture.json")
    details["order_book_details"][1]["open_interest"] = "NaN"
    rates = load("lighter", "funding-rates.edited_ccxt_fixture.json")
    rates["funding_rates"][4]["rate"] = "n/a"  # 1000PEPE

    result = lighter.parse_order_book_details(details, rates, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["ETH"]
    assert [(e.endpoint, e.path) for e in result.rejected] == [
        ("orderBookDetails", "$.order_book_details[1].open_interest"),
        ("funding-rates", "$.funding_rates[4].rate"),
    ]


def test_ccxt_sample_without_mark_price_is_rejected_not_guessed():
    # The 2025 sample predates `mark_price`; last_trade_price is not a mark price.
    result = lighter.parse_order_book_details(
        load("lighter", "orderBookDetails.ccxt_fixture.json"),
        load("lighter", "funding-rates.ccxt_fixture.json"),
        observed_at=OBSERVED,
    )

    assert result.rows == []
    (error,) = result.rejected
    assert error.path == "$.order_book_details[0].mark_price"


def test_wrong_envelope_raises():
    details = load("lighter", "orderBookDetails.edited_ccxt_fixture.json")

    with pytest.raises(ParseError, match="expected code 200"):
        lighter.parse_order_book_details(details, {"code": 429, "message": "too many"}, observed_at=OBSERVED)
    with pytest.raises(ParseError, match="expected an array"):
        lighter.parse_order_book_details({"code": 200}, {"code": 200, "funding_rates": []}, observed_at=OBSERVED)


def test_fundings_page_percent_per_hour_signed_by_direction():
    page = lighter.parse_fundings(load("lighter", "fundings.thirdparty_nautilus_test_data.json"), symbol="ETH")

    first, second = page.prints
    assert first.funding_time == datetime(2026, 5, 13, 20, tzinfo=UTC)  # 1778702400 s
    assert first.funding_rate == Decimal("0.000012")  # 0.0012 % / 100, longs paid
    assert first.funding_rate_raw == "0.0012"
    assert first.funding_interval_hours == Decimal(1)
    assert first.interval_source is IntervalSource.FIXED
    assert second.funding_time == datetime(2026, 5, 13, 21, tzinfo=UTC)
    assert second.funding_rate == Decimal("-0.000002")  # 0.0002 % / 100, shorts paid
    assert second.funding_rate_raw == "-0.0002"


def test_fundings_unknown_direction_rejected():
    payload = load("lighter", "fundings.thirdparty_nautilus_test_data.json")
    payload["fundings"][0]["direction"] = "both"

    page = lighter.parse_fundings(payload, symbol="ETH")

    assert len(page.prints) == 1
    assert page.rejected[0].path == "$.fundings[0].direction"


def test_history_market_list_keeps_inactive_perps_not_spot():
    markets = lighter.perp_markets(load("lighter", "orderBookDetails.edited_ccxt_fixture.json"))

    assert markets == {"ETH": 0, "BTC": 1, "1000PEPE": 8, "OLD": 30}


def _cassette(path: str, fixture: str | None, params: dict | None = None) -> Cassette:
    content = (
        (FIXTURES / "lighter" / fixture).read_bytes()
        if fixture
        else b'{"code": 200, "resolution": "1h", "fundings": []}'
    )
    return cassette(BASE + path, params=params, name=path, content=content)


def test_history_walks_720_hour_windows_until_end():
    start = datetime(2026, 5, 13, tzinfo=UTC)  # 1778630400
    end = datetime(2026, 7, 14, 12, tzinfo=UTC)  # start + 1500 h: three windows
    window = {"market_id": 0, "resolution": "1h", "count_back": 721}  # 720 h, both ends inclusive
    cassettes = (
        _cassette("orderBookDetails", "orderBookDetails.edited_ccxt_fixture.json"),
        _cassette(
            "fundings",
            "fundings.thirdparty_nautilus_test_data.json",
            {**window, "start_timestamp": 1778630400, "end_timestamp": 1781222400},
        ),
        _cassette(
            "fundings",
            "fundings.edited_thirdparty_nautilus_test_data.json",
            {**window, "start_timestamp": 1781222400, "end_timestamp": 1783814400},
        ),
        _cassette("fundings", None, {**window, "start_timestamp": 1783814400, "end_timestamp": 1784030400}),
    )

    result, requests = replay(lighter.VENUE, cassettes, lambda http: lighter.history(http, start, end, symbols=["ETH"]))

    assert requests == 4  # details + three windows, the last one empty
    assert [(p.funding_time, p.funding_rate) for p in result.prints] == [
        (datetime(2026, 5, 13, 20, tzinfo=UTC), Decimal("0.000012")),
        (datetime(2026, 5, 13, 21, tzinfo=UTC), Decimal("-0.000002")),
        (datetime(2026, 6, 12, 20, tzinfo=UTC), Decimal("0.000012")),  # 1781294400 s
        (datetime(2026, 6, 12, 21, tzinfo=UTC), Decimal("-0.000002")),
    ]
    assert {p.symbol for p in result.prints} == {"ETH"}
    assert result.rejected == []


def test_history_keeps_only_prints_inside_the_range():
    start = datetime(2026, 5, 13, 20, 30, tzinfo=UTC)
    end = datetime(2026, 5, 13, 22, tzinfo=UTC)
    params = {"market_id": 0, "start_timestamp": 1778704200, "end_timestamp": 1778709600}
    cassettes = (
        _cassette("orderBookDetails", "orderBookDetails.edited_ccxt_fixture.json"),
        _cassette("fundings", "fundings.thirdparty_nautilus_test_data.json", params),
    )

    result, _ = replay(lighter.VENUE, cassettes, lambda http: lighter.history(http, start, end, symbols=["ETH"]))

    assert [p.funding_time for p in result.prints] == [datetime(2026, 5, 13, 21, tzinfo=UTC)]
