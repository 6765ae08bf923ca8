import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import extended
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 4, 29, 5, 30, 15, tzinfo=UTC)
MARKETS = "api_v1_info_markets.ccxt_comment_example.json"
MARKETS_EDITED = "api_v1_info_markets.edited_ccxt_comment_example.json"
FUNDING = "api_v1_info_market_funding.ccxt_comment_example.json"


def test_ccxt_capture_btc():
    result = extended.parse_markets(load("extended", MARKETS), observed_at=OBSERVED)

    (btc,) = result.rows
    assert btc.symbol == "BTC-USD"
    assert btc.base_hint == "BTC"  # assetName
    assert btc.mark_price == Decimal("77259.680250000004")
    assert btc.index_price == Decimal("77299.020412500001")
    assert btc.funding_rate == Decimal("0.000013")
    assert btc.funding_interval_hours == Decimal(1)
    assert btc.interval_source is IntervalSource.FIXED
    # Both OI fields as sent: openInterest is USD, openInterestBase is BTC (nothing recomputed).
    assert btc.open_interest_usd == Decimal("115861923.311902")
    assert btc.open_interest_base == Decimal("1500.40958")
    assert btc.volume_24h_usd == Decimal("231016077.512960")  # dailyVolume


def test_next_funding_comes_from_the_field_named_rate():
    # Quirk: `nextFundingRate` holds the next settlement time in ms, not a rate.
    (btc,) = extended.parse_markets(load("extended", MARKETS), observed_at=OBSERVED).rows

    assert btc.next_funding_at == datetime(2026, 4, 29, 6, tzinfo=UTC)  # 1777442400000 ms


def test_multiplier_market_negative_rate_and_delisted_skip():
    result = extended.parse_markets(load("extended", MARKETS_EDITED), observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTC-USD", "1000PEPE-USD"]
    assert result.skipped == 1  # ETH-USD: status DELISTED, active false
    pepe = result.rows[1]
    assert pepe.base_hint == "1000PEPE"
    assert normalize(pepe.exchange, pepe.symbol, pepe.base_hint) == ("PEPE", Decimal(1000))
    assert pepe.funding_rate == Decimal("-0.000045")
    assert pepe.funding_rate_raw == "-0.000045"
    assert pepe.mark_price == Decimal("0.005944359493")
    assert pepe.open_interest_base == Decimal("137846000")
    assert pepe.open_interest_usd == Decimal("819399.972658")
    assert pepe.volume_24h_usd is None  # dailyVolume absent


def test_reduce_only_or_inactive_markets_are_skipped():
    payload = load("extended", MARKETS_EDITED)
    payload["data"][0]["status"] = "REDUCE_ONLY"
    payload["data"][1]["active"] = False

    result = extended.parse_markets(payload, observed_at=OBSERVED)

    assert (result.rows, result.skipped) == ([], 3)


def test_bad_market_rejected_others_kept():
    payload = load("extended", MARKETS_EDITED)
    del payload["data"][1]["marketStats"]["markPrice"]

    result = extended.parse_markets(payload, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTC-USD"]
    (error,) = result.rejected
    assert error.path == "$.data[1].marketStats.markPrice"


def test_error_status_fails_the_poll():
    payload = load("extended", MARKETS)
    payload["status"] = "ERROR"

    with pytest.raises(ParseError, match="status OK"):
        extended.parse_markets(payload, observed_at=OBSERVED)


def test_funding_page_exact():
    window = (datetime(2026, 4, 29, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))

    page, cursor, count = extended.parse_funding(load("extended", FUNDING), start=window[0], end=window[1])

    (p,) = page.prints
    assert p.symbol == "BTC-USD"
    # Quirk: `T` is ms (one import script read it as seconds): 1777507201028 ms.
    assert p.funding_time == datetime(2026, 4, 30, 0, 0, 1, 28000, tzinfo=UTC)
    assert p.funding_rate == Decimal("0.000008")
    assert (p.funding_interval_hours, p.interval_source) == (Decimal(1), IntervalSource.FIXED)
    assert (cursor, count) == ("1784963886257016832", 1)


def _page(rows: list[tuple[int, str]], cursor: int | None) -> dict:
    body = copy.deepcopy(load("extended", FUNDING))
    body["data"] = [{"m": "BTC-USD", "f": rate, "T": ms} for ms, rate in rows]
    body["pagination"] = {"cursor": cursor, "count": len(rows)}
    return body


def test_history_follows_the_cursor_to_an_empty_page():
    hour = 3_600_000
    t0 = 1777507201028  # a real settlement time, just after the hour
    page1 = _page([(t0 + 3 * hour, "0.000011"), (t0 + 2 * hour, "-0.000004")], 111)
    page2 = _page([(t0 + 2 * hour, "-0.000004"), (t0 + hour, "0.000009")], 222)  # overlaps page 1
    page3 = _page([], None)
    url = extended.VENUE.base_url + extended.FUNDING.format(market="BTC-USD")
    cassettes = [  # most specific first: a request matching several takes the first (poll 0)
        cassette(url, body, params=params, name=f"p{i}")
        for i, (params, body) in enumerate((({"cursor": 222}, page3), ({"cursor": 111}, page2), ({}, page1)))
    ]
    start, end = datetime(2026, 4, 30, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)

    result, requests = replay(
        extended.VENUE, cassettes, lambda http: extended.history(http, start, end, symbols=["BTC-USD"], page_size=2)
    )

    assert requests == 3
    assert result.rejected == []
    assert [p.funding_time.hour for p in result.prints] == [1, 2, 3]  # ascending, duplicate dropped
    assert [p.funding_rate for p in result.prints] == [Decimal("0.000009"), Decimal("-0.000004"), Decimal("0.000011")]
