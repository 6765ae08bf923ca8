from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import hibachi
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
BASE = "https://data-api.hibachi.xyz"
FILES = {
    "ETH/USDT-P": {
        "/market/data/prices": "market_data_prices_ETH.ccxt_comment_example.json",
        "/market/data/stats": "market_data_stats_ETH.ccxt_comment_example.json",
        "/market/data/open-interest": "market_data_open-interest.ccxt_comment_example.json",
    },
    "SOL/USDT-P": {
        "/market/data/prices": "market_data_prices_SOL.edited_sdk_test_data.json",
        "/market/data/stats": "market_data_stats_SOL.sdk_test_data.json",
        "/market/data/open-interest": "market_data_open-interest_SOL.sdk_test_data.json",
    },
}


def _cassette(path: str, params: dict, payload, status: int = 200) -> Cassette:
    content = None if payload is not None else b'{"status":"failed"}'
    return cassette(BASE + path, payload, params=params, status=status, name=path, content=content)


def _run(cassettes: list[Cassette], call):
    return replay(hibachi.VENUE, cassettes, call)[0]


def _poll_cassettes(**override) -> list[Cassette]:
    out = [_cassette("/market/exchange-info", {}, load("hibachi", "market_exchange-info.edited_sdk_test_data.json"))]
    for symbol, files in FILES.items():
        for path, name in files.items():
            payload = override.get(name, load("hibachi", name))
            out.append(_cassette(path, {"symbol": symbol}, payload, 404 if payload is None else 200))
    return out


def test_exchange_info_sdk_example_lists_live_contracts():
    live, outcome = hibachi.parse_exchange_info(load("hibachi", "market_exchange-info.sdk_test_data.json"))

    assert [c["symbol"] for c in live] == ["BTC/USDT-P", "SOL/USDT-P"]
    assert outcome.skipped == 0 and outcome.rejected == []


def test_poll_three_calls_per_market_and_skips_closed():
    result = _run(_poll_cassettes(), lambda http: hibachi.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["ETH/USDT-P", "SOL/USDT-P"]
    assert result.skipped == 1  # XRP/USDT-P is CLOSED
    assert result.rejected == []
    eth = result.rows[0]
    assert eth.mark_price == Decimal("3514.288858")
    assert eth.index_price == Decimal("3514.715000")  # spotPrice
    assert eth.funding_rate == Decimal("0.000001")
    assert eth.funding_rate_raw == "0.000001"
    assert eth.funding_interval_hours == Decimal(1)
    assert eth.interval_source is IntervalSource.FIXED
    assert eth.open_interest_base == Decimal("2.3299770166")
    assert eth.open_interest_usd == Decimal("8188.2122688334610428")  # 2.3299770166 * 3514.288858
    assert eth.volume_24h_usd == Decimal("23554.858590416")  # volume24h is USDT notional
    assert eth.next_funding_at == datetime(2024, 4, 10, tzinfo=UTC)  # 1712707200 s
    assert eth.base_hint == "ETH"


def test_negative_rate_market():
    result = _run(_poll_cassettes(), lambda http: hibachi.poll(http, OBSERVED))

    sol = result.rows[1]
    assert sol.funding_rate == Decimal("-0.00015")
    assert sol.funding_rate_raw == "-0.00015000"
    assert sol.mark_price == Decimal("142.456")
    assert sol.open_interest_usd == Decimal("12486883.80992")  # 87654.32 * 142.456
    assert sol.volume_24h_usd == Decimal("87654.32")
    assert sol.next_funding_at == datetime(2024, 10, 6, 7, 33, 20, tzinfo=UTC)  # 1728200000 s


def test_bad_market_rejected_others_kept():
    prices = load("hibachi", "market_data_prices_ETH.ccxt_comment_example.json")
    prices["markPrice"] = "NaN"

    result = _run(
        _poll_cassettes(**{"market_data_prices_ETH.ccxt_comment_example.json": prices}),
        lambda http: hibachi.poll(http, OBSERVED),
    )

    assert [r.symbol for r in result.rows] == ["SOL/USDT-P"]
    (error,) = result.rejected
    assert error.path == "$.ETH/USDT-P.prices.markPrice"


def test_answer_for_another_symbol_is_rejected():
    # Three answers are joined per market: one carrying another symbol must not be merged in.
    stats = load("hibachi", "market_data_stats_SOL.sdk_test_data.json")

    result = hibachi.parse_market_data(
        [{"symbol": "ETH/USDT-P"}],
        [
            load("hibachi", "market_data_prices_ETH.ccxt_comment_example.json"),
            stats,
            load("hibachi", "market_data_open-interest.ccxt_comment_example.json"),
        ],
        observed_at=OBSERVED,
    )

    assert result.rows == []
    assert result.rejected[0].path == "$.ETH/USDT-P.stats.symbol"


def test_market_whose_endpoint_answers_404_is_rejected_not_fatal():
    cassettes = _poll_cassettes(**{"market_data_open-interest_SOL.sdk_test_data.json": None})

    result = _run(cassettes, lambda http: hibachi.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["ETH/USDT-P"]
    (error,) = result.rejected
    assert error.endpoint == "open-interest" and "HTTP 404" in error.reason


def test_wrong_envelope_fails_the_poll():
    with pytest.raises(ParseError, match="futureContracts"):
        hibachi.parse_exchange_info({"markets": []})


def test_funding_rates_page():
    page = hibachi.parse_funding_rates(
        load("hibachi", "market_data_funding-rates_BTC.ccxt_comment_example.json"), symbol="BTC/USDT-P"
    )

    (row,) = page.prints
    assert row.symbol == "BTC/USDT-P"
    assert row.funding_time == datetime(2025, 7, 26, tzinfo=UTC)  # 1753488000 s
    assert row.funding_rate == Decimal("0.000137")
    assert row.funding_interval_hours == Decimal(1)  # provisional until spaced
    assert row.interval_source is IntervalSource.FIXED


def test_history_pages_by_offset_to_the_empty_page_across_the_8h_to_1h_switch(monkeypatch):
    # Regression: Hibachi settled every 8 h until 2026 and hourly since; history must not
    # stamp old 8-hourly rates with today's 1 h interval.
    monkeypatch.setattr(hibachi, "HISTORY_LIMIT", 2)
    pages = [
        (0, "market_data_funding-rates_BTC_page1.edited_ccxt_comment_example.json"),
        (2, "market_data_funding-rates_BTC_page2.edited_ccxt_comment_example.json"),
        (4, "market_data_funding-rates_BTC_page3.edited_ccxt_comment_example.json"),
    ]
    cassettes = [
        _cassette("/market/data/funding-rates", {"symbol": "BTC/USDT-P", "offset": o}, load("hibachi", f))
        for o, f in pages
    ]
    start, end = datetime(2025, 7, 26, tzinfo=UTC), datetime(2025, 7, 26, 3, tzinfo=UTC)

    result = _run(cassettes, lambda http: hibachi.history(http, start, end, ["BTC/USDT-P"]))

    assert result.rejected == []
    # 2025-07-25 16:00 is fetched only to space 00:00 from (it is before start)
    assert [(p.funding_time.hour, p.funding_rate, p.funding_interval_hours) for p in result.prints] == [
        (0, Decimal("0.000137"), Decimal(8)),  # 00:00 - 16:00 the day before = 28800 s
        (1, Decimal("-0.000021"), Decimal(1)),  # 01:00 - 00:00 = 3600 s
        (2, Decimal("0.000137"), Decimal(1)),
    ]
    assert {p.interval_source for p in result.prints} == {IntervalSource.DERIVED}


def test_history_of_a_single_settlement_keeps_the_venue_interval():
    cassettes = [
        _cassette(
            "/market/data/funding-rates",
            {"symbol": "BTC/USDT-P"},
            load("hibachi", "market_data_funding-rates_BTC.ccxt_comment_example.json"),
        )
    ]
    start, end = datetime(2025, 7, 25, tzinfo=UTC), datetime(2025, 7, 27, tzinfo=UTC)

    result = _run(cassettes, lambda http: hibachi.history(http, start, end, ["BTC/USDT-P"]))

    (row,) = result.prints
    assert (row.funding_interval_hours, row.interval_source) == (Decimal(1), IntervalSource.FIXED)
