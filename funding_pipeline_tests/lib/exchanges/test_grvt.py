from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import grvt
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
BASE = "https://market-data.grvt.io"


def _cassette(name: str, path: str, body: dict, payload, status: int = 200) -> Cassette:
    content = None if payload is not None else b'{"code":1004}'
    return cassette(BASE + path, payload, body=body, status=status, name=name, content=content)


def _run(cassettes: list[Cassette], call):
    return replay(grvt.VENUE, cassettes, call)[0]


def _poll_cassettes(btc_ticker=None) -> list[Cassette]:
    return [
        _cassette(
            "instruments",
            "/full/v1/all_instruments",
            {"is_active": True},
            load("grvt", "full_v1_all_instruments.edited_ccxt_comment_example.json"),
        ),
        _cassette(
            "btc",
            "/full/v1/ticker",
            {"instrument": "BTC_USDT_Perp"},
            btc_ticker or load("grvt", "full_v1_ticker_BTC_USDT_Perp.ccxt_comment_example.json"),
        ),
        _cassette(
            "kpepe",
            "/full/v1/ticker",
            {"instrument": "KPEPE_USDT_Perp"},
            load("grvt", "full_v1_ticker_KPEPE_USDT_Perp.edited_ccxt_comment_example.json"),
        ),
    ]


def test_all_instruments_docs_example_keeps_the_perpetual():
    perps, outcome = grvt.parse_all_instruments(load("grvt", "full_v1_all_instruments.ccxt_comment_example.json"))

    assert [p["instrument"] for p in perps] == ["AAVE_USDT_Perp"]
    assert perps[0]["funding_interval_hours"] == "8"  # GRVT writes it as a string here
    assert outcome.skipped == 0
    assert outcome.rejected == []


def test_poll_joins_tickers_to_instrument_intervals_and_skips_futures():
    result = _run(_poll_cassettes(), lambda http: grvt.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["BTC_USDT_Perp", "KPEPE_USDT_Perp"]
    assert result.skipped == 1  # BTC_USDT_Fut_20Oct23 is a dated future
    assert result.rejected == []
    btc = result.rows[0]
    assert btc.mark_price == Decimal("92697.300078773")
    assert btc.index_price == Decimal("92727.818122278")
    assert btc.funding_rate_raw == "0.0037"
    assert btc.funding_rate == Decimal("0.000037")  # 0.0037 % / 100
    assert btc.funding_interval_hours == Decimal(8)  # instrument field "8"
    assert btc.interval_source is IntervalSource.MARKET_FIELD
    assert btc.open_interest_base == Decimal("1523.218935908")
    assert btc.open_interest_usd == Decimal("141198282.787533173638280884")  # 1523.218935908 * 92697.300078773
    assert btc.volume_24h_usd == Decimal("535125950.8715")  # 266955739.1606 + 268170211.7109 (buy + sell)
    assert btc.next_funding_at == datetime(2025, 12, 3, 16, tzinfo=UTC)  # 1764777600000000000 ns
    assert btc.base_hint == "BTC"


def test_negative_rate_and_non_default_interval():
    result = _run(_poll_cassettes(), lambda http: grvt.poll(http, OBSERVED))

    kpepe = result.rows[1]
    assert kpepe.funding_rate == Decimal("-0.000052")  # -0.0052 % / 100
    assert kpepe.funding_interval_hours == Decimal(4)  # instrument field 4 (an integer here)
    assert kpepe.interval_source is IntervalSource.MARKET_FIELD
    assert kpepe.index_price is None  # index_price absent in this ticker


def test_kpepe_quantities_are_not_rescaled():
    # KPEPE = 1000 PEPE: mark price and open interest are both per 1000 PEPE, so USD OI is their product.
    result = _run(_poll_cassettes(), lambda http: grvt.poll(http, OBSERVED))

    kpepe = result.rows[1]
    assert kpepe.mark_price == Decimal("0.011243")
    assert kpepe.open_interest_base == Decimal("52310042.5")
    assert kpepe.open_interest_usd == Decimal("588121.8078275")  # 52310042.5 * 0.011243
    assert kpepe.base_hint == "KPEPE"


def test_bad_market_rejected_others_kept():
    ticker = load("grvt", "full_v1_ticker_BTC_USDT_Perp.ccxt_comment_example.json")
    ticker["result"]["mark_price"] = "NaN"

    result = _run(_poll_cassettes(ticker), lambda http: grvt.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["KPEPE_USDT_Perp"]
    (error,) = result.rejected
    assert error.path == "$.BTC_USDT_Perp.result.mark_price"


def test_instrument_missing_from_ticker_endpoint_is_rejected_not_fatal():
    cassettes = _poll_cassettes()
    cassettes[1] = _cassette("btc", "/full/v1/ticker", {"instrument": "BTC_USDT_Perp"}, None, status=404)

    result = _run(cassettes, lambda http: grvt.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["KPEPE_USDT_Perp"]
    (error,) = result.rejected
    assert error.path == "$.BTC_USDT_Perp" and "HTTP 404" in error.reason


def test_market_without_any_interval_is_rejected():
    perps, _ = grvt.parse_all_instruments(load("grvt", "full_v1_all_instruments.edited_ccxt_comment_example.json"))
    btc = dict(perps[0], funding_interval_hours=None)
    ticker = load("grvt", "full_v1_ticker_BTC_USDT_Perp.ccxt_comment_example.json")

    result = grvt.parse_tickers({"BTC_USDT_Perp": ticker}, {"BTC_USDT_Perp": btc}, observed_at=OBSERVED)

    assert result.rows == []
    assert "states none" in result.rejected[0].reason


def test_old_results_envelope_fails_the_poll():
    # GRVT's first docs answered {"results": [...]}; the live API says "result". Guard the difference.
    payload = {"results": load("grvt", "full_v1_all_instruments.ccxt_comment_example.json")["result"]}

    with pytest.raises(ParseError, match="expected an array"):
        grvt.parse_all_instruments(payload)


def test_funding_page_captured_2026():
    page, cursor = grvt.parse_funding(
        load("grvt", "full_v1_funding_BTC_USDT_Perp.github_capture.json"), instrument="BTC_USDT_Perp"
    )

    assert len(page.prints) == 24
    newest = page.prints[0]
    assert newest.funding_time == datetime(2026, 7, 8, 8, tzinfo=UTC)  # 1783497600000000000 ns
    assert newest.funding_rate == Decimal("-0.000385")  # -0.0385 % / 100
    assert newest.funding_rate_raw == "-0.0385"
    assert newest.funding_interval_hours == Decimal(8)
    assert newest.interval_source is IntervalSource.MARKET_FIELD
    assert cursor == "eyJmdW5kaW5nVGltZSI6MTc4MjgzNTIwMDAwMDAwMDAwMH0"


def test_old_funding_row_with_interval_zero_is_marked_for_derivation():
    # Rows from 2025 carry funding_interval_hours "0": no interval stated, not a zero interval.
    page, _ = grvt.parse_funding(
        load("grvt", "full_v1_funding_BTC_USDT_Perp.ccxt_comment_example.json"), instrument="BTC_USDT_Perp"
    )

    (row,) = page.prints
    assert row.funding_time == datetime(2025, 10, 15, 2, 11, tzinfo=UTC)  # 1760494260000000000 ns
    assert row.funding_rate == Decimal("-0.000034")  # -0.0034 % / 100
    assert row.funding_interval_hours == 0
    assert row.interval_source is IntervalSource.DERIVED


def test_zero_intervals_are_derived_from_spacing():
    payload = load("grvt", "full_v1_funding_BTC_USDT_Perp.github_capture.json")
    for row in payload["result"]:
        row["funding_interval_hours"] = "0"
    page, _ = grvt.parse_funding(payload, instrument="BTC_USDT_Perp")

    spaced = grvt.derive_missing_intervals(sorted(page.prints, key=lambda p: p.funding_time))

    assert spaced[0].funding_interval_hours == 0  # oldest: nothing before it
    assert {p.funding_interval_hours for p in spaced[1:]} == {Decimal(8)}  # 28800 s apart


def _history_cassettes() -> list[Cassette]:
    pages = [
        ("", "full_v1_funding_BTC_USDT_Perp.github_capture.json"),
        (
            "eyJmdW5kaW5nVGltZSI6MTc4MjgzNTIwMDAwMDAwMDAwMH0",
            "full_v1_funding_BTC_USDT_Perp_page2.edited_github_capture.json",
        ),
        (
            "eyJmdW5kaW5nVGltZSI6MTc4Mjc5MjAwMDAwMDAwMDAwMH0",
            "full_v1_funding_BTC_USDT_Perp_page3.edited_github_capture.json",
        ),
    ]
    return [
        _cassette(f"p{i}", "/full/v1/funding", {"instrument": "BTC_USDT_Perp", "cursor": c}, load("grvt", f))
        for i, (c, f) in enumerate(pages)
    ]


def test_history_follows_cursor_to_the_empty_page_across_an_interval_change():
    start, end = datetime(2026, 6, 30, 8, tzinfo=UTC), datetime(2026, 7, 8, 8, tzinfo=UTC)

    result = _run(_history_cassettes(), lambda http: grvt.history(http, start, end, ["BTC_USDT_Perp"]))

    assert result.rejected == []
    # page 2 gives 08:00 and 12:00 (04:00 is before start); page 1 gives 23 of 24 (07-08 08:00 is `end`)
    assert len(result.prints) == 25
    first, second, third = result.prints[:3]
    assert (first.funding_time, first.funding_rate, first.funding_interval_hours) == (
        datetime(2026, 6, 30, 8, tzinfo=UTC),
        Decimal("-0.000792"),  # -0.0792 % / 100
        Decimal(4),
    )
    assert (second.funding_time, second.funding_interval_hours) == (datetime(2026, 6, 30, 12, tzinfo=UTC), 4)
    assert (third.funding_time, third.funding_rate, third.funding_interval_hours) == (
        datetime(2026, 6, 30, 16, tzinfo=UTC),
        Decimal("-0.001309"),  # -0.1309 % / 100
        Decimal(8),
    )
    assert result.prints[-1].funding_time == datetime(2026, 7, 8, 0, tzinfo=UTC)
    assert [p.funding_time for p in result.prints] == sorted({p.funding_time for p in result.prints})


def test_history_lists_perpetuals_when_no_symbols_given():
    cassettes = [
        _cassette(
            "instruments",
            "/full/v1/all_instruments",
            {"is_active": True},
            load("grvt", "full_v1_all_instruments.ccxt_comment_example.json"),
        ),
        _cassette(
            "aave",
            "/full/v1/funding",
            {"instrument": "AAVE_USDT_Perp"},
            load("grvt", "full_v1_funding_BTC_USDT_Perp_page3.edited_github_capture.json"),
        ),
    ]
    start, end = datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)

    result = _run(cassettes, lambda http: grvt.history(http, start, end))

    assert result.prints == [] and result.rejected == []


def test_history_rejects_an_unspaceable_zero_interval_instead_of_guessing():
    cassettes = [
        _cassette(
            "p0",
            "/full/v1/funding",
            {"instrument": "BTC_USDT_Perp", "cursor": ""},
            load("grvt", "full_v1_funding_BTC_USDT_Perp.ccxt_comment_example.json"),
        ),
        _cassette(
            "p1",
            "/full/v1/funding",
            {"instrument": "BTC_USDT_Perp", "cursor": "eyJmdW5kaW5nVGltZSI6MTc2MDQ5NDI2MDAwMDAwMDAwMH0"},
            load("grvt", "full_v1_funding_BTC_USDT_Perp_page3.edited_github_capture.json"),
        ),
    ]
    start, end = datetime(2025, 10, 15, tzinfo=UTC), datetime(2025, 10, 16, tzinfo=UTC)

    result = _run(cassettes, lambda http: grvt.history(http, start, end, ["BTC_USDT_Perp"]))

    assert result.prints == []
    (error,) = result.rejected
    assert error.path == "$[BTC_USDT_Perp]" and error.value == "2025-10-15T02:11:00+00:00"
