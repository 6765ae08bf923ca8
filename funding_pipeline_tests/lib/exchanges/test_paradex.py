from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import paradex
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError, RateUnit
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import FIXTURES, load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
BASE = "https://api.prod.paradex.trade/v1/"


def _parse_edited():
    return paradex.parse_markets_summary(
        load("paradex", "markets_summary.edited_ccxt_fixture_testnet.json"),
        load("paradex", "markets.edited_ccxt_fixture_testnet.json"),
        observed_at=OBSERVED,
    )


def _row(result, symbol):
    return next(r for r in result.rows if r.symbol == symbol)


def test_btc_rate_is_per_market_funding_period():
    btc = _row(_parse_edited(), "BTC-USD-PERP")

    assert btc.funding_rate == Decimal("0.00749938923192")  # decimal per 8 h (testnet value)
    assert btc.funding_rate_raw == "0.00749938923192"
    assert btc.rate_unit is RateUnit.DECIMAL
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.MARKET_FIELD
    assert btc.mark_price == Decimal("67307.7225876")
    assert btc.index_price == Decimal("66806.71304318")  # underlying_price
    assert btc.open_interest_base == Decimal("152.777")
    assert btc.open_interest_usd == Decimal("10283071.9337657652")  # 152.777 * 67307.7225876
    assert btc.volume_24h_usd == Decimal("2611476.262600002")
    assert btc.next_funding_at is None  # continuous funding: no settlement instant
    assert btc.base_hint == "BTC"


def test_eth_negative_rate():
    eth = _row(_parse_edited(), "ETH-USD-PERP")

    assert eth.funding_rate == Decimal("-0.00001734461570")
    assert eth.funding_interval_hours == Decimal(8)
    assert eth.open_interest_usd == Decimal("180254531.174352778368")  # 57914.3036 * 3112.43544288


def test_multiplier_market_with_4h_period():
    kpepe = _row(_parse_edited(), "KPEPE-USD-PERP")

    assert kpepe.funding_rate == Decimal("0.00003125")  # per 4 h = 0.0000078125 per hour
    assert kpepe.funding_interval_hours == Decimal(4)
    assert kpepe.interval_source is IntervalSource.MARKET_FIELD
    assert kpepe.mark_price == Decimal("0.006534")  # price of 1000 PEPE
    assert kpepe.open_interest_usd == Decimal("3345767.37")  # 512055000 KPEPE * 0.006534
    assert kpepe.volume_24h_usd is None  # volume_24h absent
    assert kpepe.base_hint == "KPEPE"
    assert normalize(kpepe.exchange, kpepe.symbol, kpepe.base_hint) == ("PEPE", Decimal(1000))


def test_options_are_skipped():
    # Quirk: market=ALL mixes options (empty funding_rate) into the perpetuals.
    result = _parse_edited()

    assert [r.symbol for r in result.rows] == ["BTC-USD-PERP", "ETH-USD-PERP", "KPEPE-USD-PERP"]
    assert result.skipped == 1
    assert result.rejected == []


def test_market_without_period_uses_documented_default():
    # The 2024 /markets sample predates funding_period_hours.
    result = paradex.parse_markets_summary(
        load("paradex", "markets_summary.ccxt_fixture_testnet.json"),
        load("paradex", "markets.ccxt_fixture_testnet.json"),
        observed_at=OBSERVED,
    )

    (btc,) = result.rows
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.FIXED


def test_bad_market_rejected_others_kept():
    summary = load("paradex", "markets_summary.edited_ccxt_fixture_testnet.json")
    summary["results"][1]["mark_price"] = "abc"
    summary["results"].append({**summary["results"][0], "symbol": "NEW-USD-PERP"})

    result = paradex.parse_markets_summary(
        summary, load("paradex", "markets.edited_ccxt_fixture_testnet.json"), observed_at=OBSERVED
    )

    assert [r.symbol for r in result.rows] == ["BTC-USD-PERP", "KPEPE-USD-PERP"]
    assert [e.path for e in result.rejected] == ["$.results[1].mark_price", "$.results[4].symbol"]


def test_entry_that_is_not_an_object_rejected_others_kept():
    # The batched path reads columns without a type pass first; a list entry must still send the
    # payload market by market, where it is rejected with its path.
    summary = load("paradex", "markets_summary.edited_ccxt_fixture_testnet.json")
    summary["results"].insert(1, ["symbol"])
    markets = load("paradex", "markets.edited_ccxt_fixture_testnet.json")
    markets["results"].append("symbol")

    result = paradex.parse_markets_summary(summary, markets, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == [r.symbol for r in _parse_edited().rows]
    assert [e.path for e in result.rejected] == ["$.results[1]"]


def test_wrong_envelope_raises():
    markets = load("paradex", "markets.edited_ccxt_fixture_testnet.json")

    with pytest.raises(ParseError, match="expected an array"):
        paradex.parse_markets_summary({"error": "NOT_FOUND"}, markets, observed_at=OBSERVED)
    with pytest.raises(ParseError, match="expected an object"):
        paradex.parse_markets_summary({"results": []}, [], observed_at=OBSERVED)


def test_funding_data_row_without_period_uses_market_period():
    periods = paradex.perp_periods(load("paradex", "markets.edited_ccxt_fixture_testnet.json"))

    page = paradex.parse_funding_data(load("paradex", "funding_data.ccxt_comment_example.json"), periods=periods)

    (row,) = page.prints
    assert row.symbol == "BTC-USD-PERP"
    assert row.funding_time == datetime(2025, 11, 26, 12, 32, 7, 843000, tzinfo=UTC)  # 1764160327843 ms
    # A plain fraction: funding_premium / funding_rate = -6.0464665 / -0.0000699260 = 86,469.5,
    # BTC's price that day, so the rate is not percent.
    assert row.funding_rate == Decimal("-0.00006992598926")
    assert row.funding_interval_hours == Decimal(8)  # row says 0; /markets says 8
    assert row.interval_source is IntervalSource.MARKET_FIELD


def test_funding_data_unknown_market_without_period_rejected():
    page = paradex.parse_funding_data(load("paradex", "funding_data.ccxt_comment_example.json"), periods={})

    assert page.prints == []
    assert page.rejected[0].path == "$.results[0].funding_period_hours"


def _cassette(params: dict, body: dict | bytes, path: str = "funding/data") -> Cassette:
    content = body if isinstance(body, bytes) else None
    return cassette(BASE + path, body, params=params, name=path, content=content)


def test_history_samples_each_hour_following_the_cursor(monkeypatch):
    # Quirk: /funding/data rows are observations every few seconds, not settlements; one per hour.
    monkeypatch.setattr(paradex, "PAGE_SIZE", 2)
    first_page = load("paradex", "funding_data.edited_ccxt_comment_example.json")
    cursor = load("paradex", "funding_data.ccxt_comment_example.json")["next"]
    first_page["next"] = cursor
    empty = {"next": None, "prev": None, "results": []}
    market = {"market": "BTC-USD-PERP", "page_size": 2}
    cassettes = (
        _cassette({}, (FIXTURES / "paradex" / "markets.edited_ccxt_fixture_testnet.json").read_bytes(), "markets"),
        # 12:00 (1764158400000 ms): a full page whose `next` leads to an empty page
        _cassette({**market, "start_at": 1764158400000, "end_at": 1764158460000}, first_page),
        _cassette({**market, "cursor": cursor}, empty),
        # 13:00: nothing published in the first minute
        _cassette({**market, "start_at": 1764162000000, "end_at": 1764162060000}, empty),
    )

    start, end = datetime(2025, 11, 26, 12, tzinfo=UTC), datetime(2025, 11, 26, 14, tzinfo=UTC)

    result, requests = replay(
        paradex.VENUE, cassettes, lambda http: paradex.history(http, start, end, symbols=["BTC-USD-PERP"])
    )

    assert requests == 4  # markets + two pages for 12:00 + one for 13:00
    (sample,) = result.prints
    assert sample.funding_time == datetime(2025, 11, 26, 12, 0, 3, 843000, tzinfo=UTC)  # earliest of two
    assert sample.funding_rate == Decimal("-0.00006992598926")
    assert sample.funding_interval_hours == Decimal(8)
    assert result.rejected == []
