from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import ethereal
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline_tests.fixtures import FIXTURES, load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
BTC_ID = "bc7d5575-3711-4532-a000-312bfacfb767"
ETH_ID = "480014cc-536e-4fd4-958b-b2afcf8ce09f"


def _edited():
    return (
        load("ethereal", "v1_product.edited_docs_example.json"),
        load("ethereal", "v1_product_market-price.edited_docs_example.json"),
    )


def test_btc_values_from_edited_docs_example():
    products, prices = _edited()

    result = ethereal.parse_products(products, prices, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTCUSD", "ETHUSD"]
    btc = result.rows[0]
    assert btc.mark_price == Decimal("104399.7")  # oraclePrice is the mark
    assert btc.index_price == Decimal("104399.7")
    assert btc.funding_rate == Decimal("0.00022831")
    assert btc.funding_rate_raw == "0.00022831"
    assert btc.funding_interval_hours == Decimal(1)
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.open_interest_base == Decimal("6.25")  # 12.5 (both sides) / 2
    assert btc.open_interest_usd == Decimal("652498.125")  # 6.25 * 104399.7
    assert btc.volume_24h_usd == Decimal("334079.04")  # 3.2 BTC * 104399.7
    assert btc.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert btc.base_hint == "BTC"


def test_negative_rate_market():
    products, prices = _edited()

    eth = ethereal.parse_products(products, prices, observed_at=OBSERVED).rows[1]

    assert eth.funding_rate == Decimal("-0.000034246")
    assert eth.mark_price == Decimal("1807.36431582")
    assert eth.open_interest_base == Decimal("750.2")  # 1500.4 / 2
    assert eth.open_interest_usd == Decimal("1355884.709728164")  # 750.2 * 1807.36431582
    assert eth.volume_24h_usd == Decimal("1483394.262209265")  # 820.75 * 1807.36431582


def test_open_interest_is_halved():
    # Quirk: `openInterest` is "OI of both sides" (SDK), unlike every other venue's one-side OI.
    products, prices = _edited()
    products["data"][0]["openInterest"] = "2"

    btc = ethereal.parse_products(products, prices, observed_at=OBSERVED).rows[0]

    assert btc.open_interest_base == Decimal(1)


def test_pending_and_spot_products_are_skipped():
    products, prices = _edited()
    products["data"][1]["engineType"] = 1  # spot engine

    result = ethereal.parse_products(products, prices, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTCUSD"]
    assert result.skipped == 2  # ETHUSD spot, SOLUSD PENDING
    assert result.rejected == []


def test_product_without_market_price_is_rejected_with_its_path():
    # The testnet docs product and the mainnet docs price sample name different product ids.
    product = load("ethereal", "v1_product.data0.docs_example_testnet.json")
    prices = load("ethereal", "v1_product_market-price.docs_example.json")

    result = ethereal.parse_products({"data": [product]}, prices, observed_at=OBSERVED)

    assert result.rows == []
    (error,) = result.rejected
    assert error.path == "$.data[0].id"
    assert error.value == "e8513e20-6661-4324-bd05-814120f0d5df"


def test_bad_market_rejected_others_kept():
    products, prices = _edited()
    products["data"][1]["fundingRate1h"] = "n/a"

    result = ethereal.parse_products(products, prices, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTCUSD"]
    (error,) = result.rejected
    assert (error.endpoint, error.path) == ("product", "$.data[1].fundingRate1h")


def test_missing_oracle_price_names_the_price_entry():
    products, prices = _edited()
    prices["data"][1]["oraclePrice"] = None  # nullable in the schema

    result = ethereal.parse_products(products, prices, observed_at=OBSERVED)

    (error,) = result.rejected
    assert (error.endpoint, error.path) == ("product/market-price", "$.data[1].oraclePrice")


def test_wrong_envelope_fails_the_poll():
    products, prices = _edited()

    with pytest.raises(ParseError, match="expected an object"):
        ethereal.parse_products(products["data"], prices, observed_at=OBSERVED)


def test_funding_page_values():
    page = load("ethereal", "v1_funding.edited_docs_schema_example.page1.json")

    parsed = ethereal.parse_funding(page, symbol="BTCUSD")

    assert [p.funding_time for p in parsed.prints] == [
        datetime(2024, 4, 2, 4, tzinfo=UTC),  # 1712030400000 ms
        datetime(2024, 4, 2, 3, tzinfo=UTC),
        datetime(2024, 4, 2, 2, tzinfo=UTC),
    ]
    assert parsed.prints[1].funding_rate == Decimal("-0.000004100")
    assert parsed.prints[1].funding_rate_raw == "-0.000004100"
    assert parsed.prints[1].funding_interval_hours == Decimal(1)
    assert parsed.page.has_next is True
    assert parsed.page.next_cursor == "cursor-page-2"


def test_schema_example_page_without_cursor():
    parsed = ethereal.parse_funding(load("ethereal", "v1_funding.docs_schema_example.json"), symbol="X")

    (only,) = parsed.prints
    assert only.funding_time == datetime(2024, 4, 2, 1, tzinfo=UTC)
    assert only.funding_rate == Decimal("0.013876480")
    assert parsed.page.next_cursor is None


def test_bad_funding_item_rejected_others_kept():
    page = load("ethereal", "v1_funding.edited_docs_schema_example.page1.json")
    del page["data"][0]["createdAt"]

    parsed = ethereal.parse_funding(page, symbol="BTCUSD")

    assert len(parsed.prints) == 2
    assert parsed.rejected[0].path == "$.data[0].createdAt"


def test_history_range_is_the_smallest_window():
    now = datetime(2024, 4, 3, tzinfo=UTC)

    assert ethereal.history_range(datetime(2024, 4, 2, 6, tzinfo=UTC), now) == "DAY"
    assert ethereal.history_range(datetime(2024, 4, 1, 23, tzinfo=UTC), now) == "WEEK"
    assert ethereal.history_range(datetime(2024, 3, 1, tzinfo=UTC), now) == "MONTH"


def _cassette(name: str, path: str, params: dict, fixture: str) -> Cassette:
    content = (FIXTURES / "ethereal" / fixture).read_bytes()
    return cassette("https://api.ethereal.trade" + path, params=params, name=name, content=content)


def _run_history(cassettes: list[Cassette], start: datetime, end: datetime, now: datetime):
    in_name_order = sorted(cassettes, key=lambda c: c.name)
    return replay(ethereal.VENUE, in_name_order, lambda http: ethereal.history(http, start, end, now=now))


def _history_cassettes() -> list[Cassette]:
    btc = {"productId": BTC_ID, "range": "WEEK", "order": "desc"}
    # A cassette without `cursor` matches every page; replay serves the first match in name
    # order, so later pages are named to sort first ("a_" page 3, "b_" page 2, "c_" page 1).
    return [
        _cassette("p_products", "/v1/product", {"orderBy": "createdAt"}, "v1_product.edited_docs_example.json"),
        _cassette("c_btc_page1", "/v1/funding", btc, "v1_funding.edited_docs_schema_example.page1.json"),
        _cassette(
            "b_btc_page2",
            "/v1/funding",
            {**btc, "cursor": "cursor-page-2"},
            "v1_funding.edited_docs_schema_example.page2.json",
        ),
        _cassette(
            "a_btc_page3",
            "/v1/funding",
            {**btc, "cursor": "cursor-page-3"},
            "v1_funding.edited_docs_schema_example.page3_empty.json",
        ),
        _cassette(
            "d_eth_page1",
            "/v1/funding",
            {"productId": ETH_ID},
            "v1_funding.edited_docs_schema_example.page3_empty.json",
        ),
    ]


def test_history_follows_cursor_to_the_empty_last_page():
    start, end = datetime(2024, 4, 1, 23, tzinfo=UTC), datetime(2024, 4, 2, 4, tzinfo=UTC)
    now = datetime(2024, 4, 3, tzinfo=UTC)  # 25 h after start: the WEEK window

    result, requests = _run_history(_history_cassettes(), start, end, now)

    assert [(p.funding_time.hour, p.funding_rate) for p in result.prints] == [
        (0, Decimal("0.000010000")),
        (1, Decimal("0.013876480")),
        (2, Decimal("0.000008000")),  # served on pages 1 and 2, kept once
        (3, Decimal("-0.000004100")),
    ]  # 04:00 is the exclusive end
    assert {p.symbol for p in result.prints} == {"BTCUSD"}
    assert result.rejected == []
    assert requests == 5  # products, BTC pages 1-3, ETH page 1 (SOL is PENDING)


def test_history_stops_once_a_page_reaches_start():
    start, end = datetime(2024, 4, 2, 0, 30, tzinfo=UTC), datetime(2024, 4, 2, 4, tzinfo=UTC)
    cassettes = [c for c in _history_cassettes() if c.name != "a_btc_page3"]  # never asked for
    now = datetime(2024, 4, 3, 12, tzinfo=UTC)  # 35.5 h after start: the WEEK window

    result, requests = _run_history(cassettes, start, end, now)

    assert [p.funding_time.hour for p in result.prints] == [1, 2, 3]
    assert requests == 4
