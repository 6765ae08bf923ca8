import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import bybit, fields
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
INSTRUMENTS = "v5_market_instruments_info_linear.docs_example.json"
PRELAUNCH = "v5_market_instruments_info_linear.docs_example_prelaunch.json"
EDITED_INSTRUMENTS = "v5_market_instruments_info_linear.edited_docs_example.json"
TICKERS = "v5_market_tickers_linear.ccxt_comment_example.json"
EDITED_TICKERS = "v5_market_tickers_linear.edited_ccxt_comment_example.json"


def parse(tickers, instruments=INSTRUMENTS):
    known, _ = bybit.parse_instruments_info(load("bybit", instruments))
    payload = load("bybit", tickers) if isinstance(tickers, str) else tickers
    return bybit.parse_tickers(payload, observed_at=OBSERVED, instruments=known)


def test_instruments_docs_examples():
    trading, cursor = bybit.parse_instruments_info(load("bybit", INSTRUMENTS))
    prelaunch, next_cursor = bybit.parse_instruments_info(load("bybit", PRELAUNCH))

    assert trading == {"BTCUSDT": bybit.Instrument(Decimal(480), "BTC")}
    assert cursor == ""
    assert prelaunch == {"BIOUSDT": None}  # status PreLaunch: skipped
    assert next_cursor == "first%3DBIOUSDT%26last%3DBIOUSDT"


def test_real_btc_ticker():
    result = parse(TICKERS)

    (btc,) = result.rows
    assert btc.symbol == "BTCUSDT"
    assert btc.mark_price == Decimal("19255.00")
    assert btc.index_price == Decimal("19260.68")
    assert btc.funding_rate == Decimal("0.0001")
    assert btc.funding_interval_hours == Decimal(8)  # fundingInterval 480 min / 60
    assert btc.interval_source is IntervalSource.MARKET_FIELD
    assert btc.open_interest_base == Decimal("48069.549")
    # 2022 capture has no openInterestValue: 48069.549 * 19255.00 = 925579165.995
    assert btc.open_interest_usd == Decimal("925579165.995")
    assert btc.volume_24h_usd == Decimal("4686694853.047006")  # turnover24h, USDT
    assert btc.next_funding_at == datetime(2022, 9, 20, 16, tzinfo=UTC)  # 1663689600000 ms
    assert btc.base_hint == "BTC"


def test_multiplier_4h_negative_rate_and_skips():
    result = parse(EDITED_TICKERS, EDITED_INSTRUMENTS)

    rows = {r.symbol: r for r in result.rows}
    assert list(rows) == ["BTCUSDT", "1000PEPEUSDT", "ETHUSDT"]
    pepe = rows["1000PEPEUSDT"]
    assert pepe.funding_rate == Decimal("-0.000125")
    assert pepe.funding_interval_hours == Decimal(4)  # fundingInterval 240 min
    assert pepe.open_interest_usd == Decimal("925578384.93")  # openInterestValue, taken as sent
    assert pepe.open_interest_base == Decimal("48069.549")
    assert pepe.base_hint == "1000PEPE"
    assert normalize(pepe.exchange, pepe.symbol, pepe.base_hint) == ("PEPE", Decimal(1000))
    # BTC-26DEC25 is LinearFutures; BIOUSDT is not in the Trading instrument list.
    assert result.skipped == 2
    assert result.rejected == []


def test_ticker_interval_used_when_instrument_has_none():
    result = parse(EDITED_TICKERS, EDITED_INSTRUMENTS)

    eth = {r.symbol: r for r in result.rows}["ETHUSDT"]
    assert eth.funding_interval_hours == Decimal(1)  # fundingIntervalHour "1"
    assert eth.interval_source is IntervalSource.MARKET_FIELD


def test_market_stating_no_interval_is_rejected_not_guessed():
    payload = load("bybit", EDITED_TICKERS)
    del payload["result"]["list"][3]["fundingIntervalHour"]  # ETHUSDT: no interval anywhere now

    result = parse(payload, EDITED_INSTRUMENTS)

    assert [r.symbol for r in result.rows] == ["BTCUSDT", "1000PEPEUSDT"]
    (error,) = result.rejected
    assert error.path == "$.result.list[3]"
    assert "no fixed interval" in error.reason


def test_bad_market_rejected_with_path():
    payload = load("bybit", EDITED_TICKERS)
    payload["result"]["list"][1]["markPrice"] = "-"

    result = parse(payload, EDITED_INSTRUMENTS)

    assert [r.symbol for r in result.rows] == ["BTCUSDT", "ETHUSDT"]
    assert [e.path for e in result.rejected] == ["$.result.list[1].markPrice"]


def test_error_envelope_raises():
    payload = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1}

    with pytest.raises(ParseError, match="retCode"):
        parse(payload)


def _cassette(name: str, path: str, payload, **params) -> Cassette:
    return cassette(bybit.VENUE.base_url + path, payload, params=params, name=name)


def run(cassettes, call):
    return replay(bybit.VENUE, cassettes, call)[0]


def test_poll_follows_the_instrument_cursor():
    cursor = "first%3DBIOUSDT%26last%3DBIOUSDT"
    cassettes = [
        # Listed first: the second request carries every key of the first cassette too, and
        # replay serves the first match.
        _cassette("page2", "/v5/market/instruments-info", load("bybit", INSTRUMENTS), cursor=cursor),
        _cassette("page1", "/v5/market/instruments-info", load("bybit", PRELAUNCH), limit=1000),
        _cassette("tickers", "/v5/market/tickers", load("bybit", TICKERS), category="linear"),
    ]

    result = run(cassettes, lambda http: bybit.poll(http, OBSERVED))

    assert [r.symbol for r in result.rows] == ["BTCUSDT"]
    assert result.rows[0].funding_interval_hours == Decimal(8)  # from page 2


def test_history_page_exact_values():
    kept, rejected = bybit.parse_funding_history(load("bybit", "v5_market_funding_history.ccxt_comment_example.json"))

    assert rejected == []
    assert kept == [bybit.Settlement(1672041600000, Decimal("0.0001"), "0.0001")]


def _page(*entries: tuple[int, str]) -> dict:
    """The funding-history docs example with its list replaced by copies of its entry (time, rate edited)."""
    page = load("bybit", "v5_market_funding_history.ccxt_comment_example.json")
    template = page["result"]["list"][0]
    page["result"]["list"] = [
        {**copy.deepcopy(template), "fundingRateTimestamp": str(ms), "fundingRate": rate} for ms, rate in entries
    ]
    return page


def test_history_pages_backwards_newest_first_with_interval_changes():
    # Quirk: Bybit answers newest first and pages by moving endTime below the oldest print.
    h = 3_600_000
    a, b, c, d = 1671998400000, 1672012800000, 1672041600000, 1672056000000  # 25th 20:00; 26th 00, 08, 12
    first = b - 8 * h  # start - 8 h, to see the settlement before `start`
    cassettes = [
        _cassette("p1", "/v5/market/funding/history", _page((d, "0.00015"), (c, "0.0001")), endTime=1672070399999),
        _cassette("p2", "/v5/market/funding/history", _page((b, "-0.0002"), (a, "0.00005")), endTime=c - 1),
        _cassette("p3", "/v5/market/funding/history", _page(), endTime=a - 1, startTime=first, symbol="ETHPERP"),
        _cassette("instruments", "/v5/market/instruments-info", load("bybit", INSTRUMENTS)),
    ]
    start, end = datetime(2022, 12, 26, tzinfo=UTC), datetime(2022, 12, 26, 16, tzinfo=UTC)

    result = run(cassettes, lambda http: bybit.history(http, start, end, ["ETHPERP"], page_limit=2))

    assert result.rejected == []
    got = [(p.funding_time.hour, p.funding_rate, p.funding_interval_hours) for p in result.prints]
    assert got == [
        (0, Decimal("-0.0002"), Decimal(4)),  # 00:00 - 20:00 the day before
        (8, Decimal("0.0001"), Decimal(8)),  # 08:00 - 00:00
        (12, Decimal("0.00015"), Decimal(4)),  # 12:00 - 08:00
    ]
    assert {p.interval_source for p in result.prints} == {IntervalSource.DERIVED}


def test_lone_print_falls_back_to_the_market_interval():
    one = [bybit.Settlement(1672041600000, Decimal("0.0001"), "0.0001")]
    start, end = datetime(2022, 12, 26, tzinfo=UTC), datetime(2022, 12, 27, tzinfo=UTC)

    known = bybit.assign_intervals("BTCUSDT", one, (Decimal(8), IntervalSource.MARKET_FIELD), start, end)
    unknown = bybit.assign_intervals("ETHPERP", one, None, start, end)

    assert [(p.funding_interval_hours, p.interval_source) for p in known.prints] == [
        (Decimal(8), IntervalSource.MARKET_FIELD)
    ]
    assert unknown.prints == [] and len(unknown.rejected) == 1


@pytest.mark.parametrize("fast", [True, False])
def test_instrument_listed_twice_the_last_entry_decides(fast, monkeypatch):
    monkeypatch.setattr(fields, "FAST_PATH", fast)
    payload = load("bybit", INSTRUMENTS)
    btc = payload["result"]["list"][0]
    payload["result"]["list"] = [btc, {**btc, "status": "Closed"}, {**btc, "symbol": "ETHUSDT"}, btc]

    known, _ = bybit.parse_instruments_info(payload)

    assert known == {"BTCUSDT": bybit.Instrument(Decimal(480), "BTC"), "ETHUSDT": bybit.Instrument(Decimal(480), "BTC")}
    assert list(known) == ["BTCUSDT", "ETHUSDT"]
