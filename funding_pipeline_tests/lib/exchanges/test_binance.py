import copy
import dataclasses
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


# --- open interest, per symbol -------------------------------------------------------------

OI = "fapi_v1_openInterest.ccxt_comment_example.json"  # ETHUSDT_230331, openInterest "23581.677"
OI_ROUTE = "/fapi/v1/openInterest"
# Perpetuals of the capture, sorted: 1000SHIBUSDT, BLZUSDT, ENAUSDT, GTCUSDT, WAXPUSDT. With two per
# slot they form 3 groups; slot number = epoch s // 15, and 12:00:15 is slot 119695681, 1 mod 3.
T0 = OBSERVED  # group 1: ENAUSDT, GTCUSDT
T1 = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)  # group 2: WAXPUSDT
T2 = datetime(2026, 11, 23, 12, 0, 45, tzinfo=UTC)  # group 0: 1000SHIBUSDT, BLZUSDT


def _oi(symbol: str, value: str = "23581.677") -> Cassette:
    """The openInterest ccxt example with `symbol` (and `openInterest`, where given) replaced."""
    answer = {**load("binance", OI), "symbol": symbol, "openInterest": value}
    return _cassette(f"oi {symbol}", OI_ROUTE, answer, symbol=symbol)


def _bulk() -> list[Cassette]:
    return [
        _cassette("premium", "/fapi/v1/premiumIndex", load("binance", CAPTURE)),
        _cassette("info", "/fapi/v1/fundingInfo", load("binance", INFO)),
        _cassette("ticker", "/fapi/v1/ticker/24hr", load("binance", TICKER)),
    ]


def _poller(per_slot: int = 2, venue=binance.VENUE):
    """A fresh poll (its own rotation state), as one collection run has."""
    return binance.poller(venue, "/fapi/v1", binance.OpenInterestSource(OI_ROUTE, per_slot))


def _poll(poll, oi: list[Cassette], at: datetime, venue=binance.VENUE):
    result, requests = replay(venue, _bulk() + oi, lambda http: poll(http, at))
    return {r.symbol: r for r in result.rows}, result.rejected, requests


def test_open_interest_answer_exact_values():
    assert binance.parse_open_interest(load("binance", OI), "ETHUSDT_230331") == Decimal("23581.677")
    with pytest.raises(ParseError, match="not for BTCUSDT"):
        binance.parse_open_interest(load("binance", OI), "BTCUSDT")


def test_open_interest_calls_are_sized_to_a_quarter_of_the_weight_limit():
    # 2400 weight/min / 4 = 600 per minute = 150 per 15 s slot, minus the bulk calls' 41 (1 + 0 + 40).
    assert binance.OPEN_INTEREST.per_slot == 109
    # ~530 USD-M perpetuals spread over 16 slots: ceil(530 / 16) = 34 a slot (below the 109
    # ceiling), 16 groups, each symbol asked every 4 minutes.
    assert binance.OpenInterestRotation(binance.OPEN_INTEREST).due([f"S{i:03d}" for i in range(530)], T0) == [
        f"S{i:03d}" for i in range(34, 68)
    ]  # slot 119695681 mod 16 = 1
    # 2,000 symbols would need 125 a slot: the rate-limit ceiling of 109 holds instead.
    ceiling = binance.OpenInterestRotation(binance.OPEN_INTEREST).due([f"S{i:04d}" for i in range(2000)], T0)
    assert ceiling == [f"S{i:04d}" for i in range(13 * 109, 14 * 109)]  # 19 groups, 119695681 mod 19 = 13


def test_open_interest_rotates_and_rows_keep_the_latest_answer():
    poll = _poller()
    oi = [
        _oi("ENAUSDT"),
        _oi("GTCUSDT", "1500000.0"),
        _oi("WAXPUSDT", "2000000"),
        _oi("1000SHIBUSDT", "31000000"),
        _oi("BLZUSDT", "1200"),
    ]

    first, rejected, requests = _poll(poll, oi, T0)

    assert rejected == [] and requests == 3 + 2  # bulk calls + group 1
    ena = first["ENAUSDT"]  # negative rate market
    assert ena.funding_rate == Decimal("-0.00034169")
    assert ena.open_interest_base == Decimal("23581.677")
    assert ena.open_interest_usd == Decimal("15307.01392618125")  # 23581.677 * 0.64910625
    assert first["GTCUSDT"].open_interest_usd == Decimal("1347250.065")  # 1500000.0 * 0.89816671
    # Not asked yet: no open interest rather than a guess.
    assert [first[s].open_interest_base for s in ("WAXPUSDT", "1000SHIBUSDT", "BLZUSDT")] == [None] * 3

    second, _, requests = _poll(poll, oi, T1)
    assert requests == 3 + 1
    assert second["WAXPUSDT"].open_interest_usd == Decimal("103987.88")  # 2000000 * 0.05199394
    assert second["ENAUSDT"].open_interest_base == Decimal("23581.677")  # answered 15 s earlier

    third, _, _ = _poll(poll, oi, T2)
    shib = third["1000SHIBUSDT"]  # multiplier market: OI counts 1000-SHIB contracts, like the price
    assert shib.open_interest_base == Decimal("31000000")
    assert shib.open_interest_usd == Decimal("773574")  # 31000000 * 0.02495400
    assert third["BLZUSDT"].open_interest_usd == Decimal("165.381156")  # 1200 * 0.13781763
    assert all(r.open_interest_base is not None for r in third.values())

    # Group 1 again 45 s later: the newer answer replaces the older one.
    fourth, _, _ = _poll(poll, [_oi("ENAUSDT", "24000.5"), _oi("GTCUSDT")], datetime(2026, 11, 23, 12, 1, tzinfo=UTC))
    assert fourth["ENAUSDT"].open_interest_usd == Decimal("15578.874553125")  # 24000.5 * 0.64910625


def test_open_interest_older_than_the_maximum_age_is_dropped():
    poll = _poller()
    _poll(poll, [_oi("ENAUSDT"), _oi("GTCUSDT")], T0)

    # 12:05:00 and 12:05:45 ask group 2 (WAXPUSDT): ENAUSDT's answer is 4:45, then 5:30 old.
    at_445, _, _ = _poll(poll, [_oi("WAXPUSDT")], datetime(2026, 11, 23, 12, 5, tzinfo=UTC))
    at_530, _, _ = _poll(poll, [_oi("WAXPUSDT")], datetime(2026, 11, 23, 12, 5, 45, tzinfo=UTC))

    assert at_445["ENAUSDT"].open_interest_base == Decimal("23581.677")
    assert at_530["ENAUSDT"].open_interest_base is None
    assert at_530["WAXPUSDT"].open_interest_base == Decimal("23581.677")


def test_failed_open_interest_call_keeps_the_poll_and_the_older_answer():
    poll = _poller()
    _poll(poll, [_oi("ENAUSDT"), _oi("GTCUSDT")], T0)
    refused = cassette(
        binance.VENUE.base_url + OI_ROUTE,
        params={"symbol": "ENAUSDT"},
        status=400,
        content=b'{"code":-1121,"msg":"Invalid symbol."}',
    )

    # 12:01:00 asks group 1 again: ENAUSDT is refused, GTCUSDT answers garbage.
    rows, rejected, _ = _poll(poll, [refused, _oi("GTCUSDT", "abc")], datetime(2026, 11, 23, 12, 1, tzinfo=UTC))

    assert len(rows) == 5  # every market kept
    assert rows["ENAUSDT"].open_interest_base == Decimal("23581.677")  # the 12:00:15 answer
    assert rows["GTCUSDT"].open_interest_base == Decimal("23581.677")
    assert sorted((e.endpoint, e.path) for e in rejected) == [
        ("openInterest", "$[symbol=ENAUSDT]"),
        ("openInterest", "$[symbol=GTCUSDT].openInterest"),
    ]
    assert "HTTP 400" in next(e.reason for e in rejected if e.path == "$[symbol=ENAUSDT]")


def test_rate_limit_answer_stops_the_slot_open_interest_calls():
    venue = dataclasses.replace(binance.VENUE, max_concurrency=1)  # one call at a time: a fixed order
    limited = cassette(binance.VENUE.base_url + OI_ROUTE, status=429, content=b'{"code":-1003}')

    rows, rejected, requests = _poll(_poller(per_slot=5, venue=venue), [limited], T0, venue)

    assert requests == 3 + 3  # 1000SHIBUSDT asked (3 attempts of a retryable 429), the other four not
    assert [e.path for e in rejected] == ["$[symbol=1000SHIBUSDT]"]
    assert {r.open_interest_base for r in rows.values()} == {None}


def test_open_interest_calls_stop_at_the_slot_budget(monkeypatch):
    monkeypatch.setattr(binance, "OI_MARGIN_S", 60.0)  # more than the slot has left: no time for them

    rows, rejected, requests = _poll(_poller(), [_oi("ENAUSDT"), _oi("GTCUSDT")], T0)

    assert requests == 3 and len(rows) == 5
    (error,) = rejected
    assert "slot budget" in error.reason
