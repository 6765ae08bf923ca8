import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import edgex
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
TICKER = "api_v1_public_quote_getTicker.docs_example.json"
FUNDING = "api_v1_public_funding_getLatestFundingRate.docs_example.json"
TICKER_EDITED = "api_v1_public_quote_getTicker.edited_docs_example.json"
FUNDING_EDITED = "api_v1_public_funding_getLatestFundingRate.edited_docs_example.json"
PAGE = "api_v1_public_funding_getFundingRatePage.edited_docs_example.json"


def _parse(ticker: str, funding: str):
    rates = edgex.parse_latest_funding_rate(load("edgex", funding))
    return edgex.parse_ticker(load("edgex", ticker), observed_at=OBSERVED, funding=rates)


def test_docs_example_btc_negative_rate_per_4h():
    result = _parse(TICKER, FUNDING)

    (btc,) = result.rows
    assert btc.symbol == "BTCUSDT"
    assert btc.mark_price == Decimal("101636.3750002346932888031005859375")  # oraclePrice
    assert btc.index_price == Decimal("101676.380723500")
    assert btc.funding_rate == Decimal("-0.00005537")  # getLatestFundingRate, not the ticker's
    assert btc.funding_interval_hours == Decimal(4)  # fundingRateIntervalMin 240 / 60
    assert btc.interval_source is IntervalSource.MARKET_FIELD
    assert btc.open_interest_base == Decimal("0.105")
    # 101636.3750002346932888031005859375 * 0.105 = 10671.8193750246427953243255615234375,
    # kept to Decimal's 28 significant digits
    assert btc.open_interest_usd == Decimal("10671.81937502464279532432556")
    assert btc.volume_24h_usd == Decimal("50821443.7464")  # `value`, USD turnover
    assert btc.next_funding_at == datetime(2024, 12, 19, 12, tzinfo=UTC)  # 1734609600000 ms
    assert btc.base_hint is None


def test_hourly_contract_and_multiplier_contract():
    result = _parse(TICKER_EDITED, FUNDING_EDITED)

    assert [r.symbol for r in result.rows] == ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"]
    eth, pepe = result.rows[1], result.rows[2]
    assert eth.funding_rate == Decimal("0.00001250")
    assert eth.funding_interval_hours == Decimal(1)  # fundingRateIntervalMin 60
    assert eth.open_interest_usd == Decimal("204360794.676")  # 65355.3 * 3126.92
    assert eth.next_funding_at == datetime(2024, 12, 19, 9, tzinfo=UTC)  # 1734598800000 ms
    # Prices and OI of 1000PEPEUSDT count 1000-PEPE units: 20117800 * 0.005965 = 120002.677
    assert pepe.open_interest_base == Decimal("20117800")
    assert pepe.open_interest_usd == Decimal("120002.677")
    assert pepe.funding_interval_hours == Decimal(4)
    assert pepe.volume_24h_usd is None  # `value` absent
    assert normalize(pepe.exchange, pepe.symbol, pepe.base_hint) == ("PEPE", Decimal(1000))


def test_bad_ticker_field_rejected_others_kept():
    payload = load("edgex", TICKER_EDITED)
    payload["data"][1]["oraclePrice"] = "n/a"
    rates = edgex.parse_latest_funding_rate(load("edgex", FUNDING_EDITED))

    result = edgex.parse_ticker(payload, observed_at=OBSERVED, funding=rates)

    assert [r.symbol for r in result.rows] == ["BTCUSDT", "1000PEPEUSDT"]
    (error,) = result.rejected
    assert (error.endpoint, error.path) == ("getTicker", "$.data[1].oraclePrice")


def test_bad_interval_is_reported_at_the_funding_entry():
    funding = load("edgex", FUNDING_EDITED)
    funding["data"][1]["fundingRateIntervalMin"] = "0"

    result = edgex.parse_ticker(
        load("edgex", TICKER_EDITED), observed_at=OBSERVED, funding=edgex.parse_latest_funding_rate(funding)
    )

    assert len(result.rows) == 2
    (error,) = result.rejected
    assert error.endpoint == "getTicker"
    assert error.reason == "funding interval must be positive"


def test_contract_without_funding_entry_rejected():
    funding = load("edgex", FUNDING_EDITED)
    del funding["data"][2]

    result = edgex.parse_ticker(
        load("edgex", TICKER_EDITED), observed_at=OBSERVED, funding=edgex.parse_latest_funding_rate(funding)
    )

    assert [r.symbol for r in result.rows] == ["BTCUSDT", "ETHUSDT"]
    assert result.rejected[0].path == "$.data[2].contractId"


def test_error_code_fails_the_poll():
    payload = load("edgex", TICKER)
    payload["code"] = "INVALID_PARAM"

    with pytest.raises(ParseError, match="code SUCCESS"):
        edgex.parse_ticker(payload, observed_at=OBSERVED, funding={})


def test_empty_contract_list_fails_the_poll():
    # Quirk: the all-contracts form of getTicker has been seen answering `"data": []`;
    # that must fail the poll instead of recording zero markets.
    payload = load("edgex", TICKER)
    payload["data"] = []

    with pytest.raises(ParseError, match="no contracts"):
        edgex.parse_ticker(payload, observed_at=OBSERVED, funding={})


def test_funding_page_settlements_exact():
    start, end = datetime(2025, 1, 10, 4, tzinfo=UTC), datetime(2025, 1, 10, 12, tzinfo=UTC)

    page, cursor, count = edgex.parse_funding_rate_page(load("edgex", PAGE), symbol="BTCUSDT", start=start, end=end)

    # Rows 12:00, 08:00, 04:00, 00:00 (newest first); the window keeps 04:00 and 08:00.
    assert [(p.funding_time.hour, p.funding_rate) for p in page.prints] == [
        (8, Decimal("0.00000119")),
        (4, Decimal("-0.00002680")),
    ]
    assert page.prints[0].funding_interval_hours == Decimal(4)
    assert page.prints[0].interval_source is IntervalSource.MARKET_FIELD
    assert (cursor, count) == ("offset-page-2", 4)


def test_funding_page_ignores_per_minute_rows():
    # Quirk: without filterSettlementFundingRate the page holds one calculation row per minute;
    # should one slip through, it is not a settlement.
    payload = load("edgex", PAGE)
    payload["data"]["dataList"][0]["isSettlement"] = False
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))

    page, _, _ = edgex.parse_funding_rate_page(payload, symbol="BTCUSDT", start=window[0], end=window[1])

    assert [p.funding_time.hour for p in page.prints] == [8, 4, 0]


def _cassette(path: str, params: dict, body: dict) -> Cassette:
    return cassette(edgex.VENUE.base_url + path, body, params=params, name=path)


def _run_history(cassettes, **kwargs):
    return replay(edgex.VENUE, cassettes, lambda http: edgex.history(http, **kwargs))


def test_history_follows_offset_pages_through_an_interval_change():
    page1 = load("edgex", PAGE)  # 2025-01-10 12:00 .. 00:00, 240-minute contract
    page2 = copy.deepcopy(page1)
    for row, hour in zip(page2["data"]["dataList"], (23, 22, 21, 20), strict=True):
        ms = str(int(datetime(2025, 1, 9, hour, tzinfo=UTC).timestamp()) * 1000)
        row.update({"fundingTime": ms, "fundingTimestamp": ms, "fundingRateIntervalMin": "60"})
    page2["data"]["nextPageOffsetData"] = "offset-page-3"
    page3 = copy.deepcopy(page1)
    page3["data"] = {"dataList": [], "nextPageOffsetData": ""}
    page_path = edgex.FUNDING_PAGE
    cassettes = [  # most specific first: a request matching several takes the first (poll 0)
        _cassette(page_path, {"contractId": "10000001", "offsetData": "offset-page-3"}, page3),
        _cassette(page_path, {"contractId": "10000001", "offsetData": "offset-page-2"}, page2),
        _cassette(page_path, {"contractId": "10000001"}, page1),
        _cassette(edgex.TICKER, {}, load("edgex", TICKER_EDITED)),
    ]

    result, requests = _run_history(
        cassettes,
        start=datetime(2025, 1, 9, tzinfo=UTC),
        end=datetime(2025, 1, 11, tzinfo=UTC),
        symbols=["BTCUSDT"],
        page_size=4,
    )

    assert requests == 4  # getTicker + three pages, the last one empty
    assert result.rejected == []
    times = [(p.funding_time.day, p.funding_time.hour) for p in result.prints]
    assert times == [(9, 20), (9, 21), (9, 22), (9, 23), (10, 0), (10, 4), (10, 8), (10, 12)]
    assert [p.funding_interval_hours for p in result.prints] == [Decimal(1)] * 4 + [Decimal(4)] * 4
    assert {p.symbol for p in result.prints} == {"BTCUSDT"}
    assert result.prints[5].funding_rate == Decimal("-0.00002680")
