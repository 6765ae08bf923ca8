import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import okx
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2021, 10, 14, 20, 0, 15, tzinfo=UTC)
EDITED = {
    "payload": "funding-rate_ANY.edited_ccxt_comment_example.json",
    "mark_price": "mark-price.edited_docs_example.json",
    "tickers": "tickers.edited_docs_example.json",
    "open_interest": "open-interest.edited_ccxt_comment_example.json",
}


def _parse(**names):
    files = {**EDITED, **names}
    payloads = {k: v if isinstance(v, dict) else load("okx", v) for k, v in files.items()}
    return okx.parse_funding_rate(observed_at=OBSERVED, **payloads)


def test_coin_margined_swap_positive_rate_8h():
    result = _parse()

    assert [r.symbol for r in result.rows] == ["BTC-USD-SWAP", "ETH-USDT-SWAP"]
    btc = result.rows[0]
    assert btc.funding_rate == Decimal("0.00027815")
    assert btc.funding_rate_raw == "0.00027815"
    # nextFundingTime - fundingTime = 1634284800000 - 1634256000000 = 28_800_000 ms = 8 h
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.DERIVED
    assert btc.next_funding_at == datetime(2021, 10, 15, 0, 0, tzinfo=UTC)  # fundingTime 1634256000000
    assert btc.mark_price == Decimal("57329.6")
    assert btc.index_price is None
    assert btc.open_interest_base == Decimal("21254.19")
    # 21254.19 * 57329.6 = 1_211_488_830 (x57000) + 7_005_381.024 (x329.6)
    assert btc.open_interest_usd == Decimal("1218494211.024")
    # volCcy24h 2222 BTC * 57329.6 = 114_659_200 (x2000) + 12_727_171.2 (x222)
    assert btc.volume_24h_usd == Decimal("127386371.2")


def test_usdt_swap_negative_rate_4h_without_ticker():
    result = _parse()

    eth = result.rows[1]
    assert eth.funding_rate == Decimal("-0.0000512")
    # 1634270400000 - 1634256000000 = 14_400_000 ms = 4 h
    assert eth.funding_interval_hours == Decimal(4)
    assert eth.mark_price == Decimal("3791.52")
    assert eth.open_interest_base == Decimal("153401.2")
    # 153401.2 * 3791.52 = 581_543_949.2 (x3791) + 79_768.624 (x0.52)
    assert eth.open_interest_usd == Decimal("581623717.824")
    assert eth.volume_24h_usd is None  # no tickers row for this swap: optional, left empty


def test_usdc_swap_skipped():
    result = _parse()

    assert result.skipped == 1  # BTC-USDC-SWAP
    assert result.rejected == []


def test_oi_contracts_are_not_base_units():
    # OKX quirk: `oi` counts contracts (BTC-USD-SWAP: 100 USD each); only `oiCcy` is base.
    result = _parse()

    assert result.rows[0].open_interest_base != Decimal("2125419")


def test_real_examples_without_a_mark_price_are_rejected_with_path():
    result = _parse(
        payload="funding-rate_ANY.ccxt_comment_example.json",
        mark_price="mark-price.docs_example.json",
        tickers="tickers.docs_example.json",
        open_interest="open-interest.ccxt_comment_example.json",
    )

    assert result.rows == []
    (error,) = result.rejected
    assert error.endpoint == "funding-rate"
    assert error.path == "$.data[0].instId"


def test_bad_rate_rejected_others_kept():
    payload = load("okx", EDITED["payload"])
    payload["data"][1]["fundingRate"] = "abc"

    result = _parse(payload=payload)

    assert [r.symbol for r in result.rows] == ["BTC-USD-SWAP"]
    (error,) = result.rejected
    assert error.path == "$.data[1].fundingRate"


def test_bad_mark_price_names_the_mark_price_payload():
    marks = load("okx", EDITED["mark_price"])
    marks["data"][0]["markPx"] = ""

    result = _parse(mark_price=marks)

    assert [r.symbol for r in result.rows] == ["ETH-USDT-SWAP"]
    (error,) = result.rejected
    assert (error.endpoint, error.path) == ("mark-price", "$.data[0].markPx")


def test_error_envelope_fails_the_poll():
    with pytest.raises(ParseError, match="Too Many Requests"):
        _parse(payload={"code": "50011", "msg": "Too Many Requests", "data": []})


def test_history_page_parsing():
    page = okx.parse_funding_rate_history(
        load("okx", "funding-rate-history.ccxt_comment_example.json"), interval_hours=Decimal(8)
    )

    assert len(page.prints) == 2  # the docs example repeats one row; history() de-duplicates
    first = page.prints[0]
    assert first.symbol == "BTC-USDT-SWAP"
    assert first.funding_rate == Decimal("0.018")
    assert first.funding_time == datetime(2020, 8, 10, 2, 26, 23, 85000, tzinfo=UTC)  # 1597026383085


# -- history pagination over a replay transport ----------------------------------------------------

ETH_ROWS = [  # (fundingTime, fundingRate), newest first; 4h settlements from 2021-10-14 16:00
    (datetime(2021, 10, 14, 20, tzinfo=UTC), "-0.0000512"),
    (datetime(2021, 10, 14, 16, tzinfo=UTC), "0.0001"),
    (datetime(2021, 10, 14, 8, tzinfo=UTC), "0.00012"),
    (datetime(2021, 10, 14, 0, tzinfo=UTC), "0.00013"),
    (datetime(2021, 10, 13, 16, tzinfo=UTC), "0.00014"),
    (datetime(2021, 10, 13, 8, tzinfo=UTC), "0.00015"),
]


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _cassette(name: str, path: str, params: dict, body: dict) -> Cassette:
    return cassette(okx.VENUE.base_url + path, body, params=params, name=name)


def _history_page(rows) -> dict:
    template = load("okx", "funding-rate-history.ccxt_comment_example.json")
    data = []
    for at, rate in rows:
        row = copy.deepcopy(template["data"][0])
        row.update(instId="ETH-USDT-SWAP", fundingTime=_ms(at), fundingRate=rate)
        data.append(row)
    return {**template, "data": data}


def _run_history(cassettes, start, end, symbols):
    return replay(okx.VENUE, cassettes, lambda http: okx.history(http, start, end, symbols))


def test_history_pages_back_to_an_empty_page_and_derives_interval_changes(monkeypatch):
    monkeypatch.setattr(okx, "PAGE_LIMIT", 2)
    start, end = datetime(2021, 10, 13, tzinfo=UTC), datetime(2021, 10, 15, tzinfo=UTC)
    listing = load("okx", EDITED["payload"])
    path = okx.PATHS[okx.HISTORY]
    cassettes = [
        _cassette("any", okx.PATHS[okx.FUNDING], {"instId": "ANY"}, listing),
        _cassette("p1", path, {"after": _ms(end)}, _history_page(ETH_ROWS[0:2])),
        _cassette("p2", path, {"after": _ms(ETH_ROWS[1][0])}, _history_page(ETH_ROWS[2:4])),
        _cassette("p3", path, {"after": _ms(ETH_ROWS[3][0])}, _history_page(ETH_ROWS[4:6])),
        _cassette("p4", path, {"after": _ms(ETH_ROWS[5][0])}, _history_page([])),
    ]

    result, requests = _run_history(cassettes, start, end, {"ETH-USDT-SWAP"})

    assert requests == 5  # listing + three full pages + the empty last page
    assert result.rejected == []
    times = [p.funding_time for p in result.prints]
    assert times == [at for at, _ in reversed(ETH_ROWS)]
    assert [p.funding_rate for p in result.prints][-1] == Decimal("-0.0000512")
    # spacing: 13th 08:00 (takes the next gap, 8h), 16:00, 14th 00:00, 08:00, 16:00 (8h), 20:00 (4h)
    assert [p.funding_interval_hours for p in result.prints] == [8, 8, 8, 8, 8, 4]
    assert {p.interval_source for p in result.prints} == {IntervalSource.DERIVED}


def test_history_stops_once_a_page_reaches_before_start(monkeypatch):
    monkeypatch.setattr(okx, "PAGE_LIMIT", 2)
    start, end = datetime(2021, 10, 14, 4, tzinfo=UTC), datetime(2021, 10, 14, 20, tzinfo=UTC)
    listing = load("okx", EDITED["payload"])
    path = okx.PATHS[okx.HISTORY]
    cassettes = [
        _cassette("any", okx.PATHS[okx.FUNDING], {"instId": "ANY"}, listing),
        _cassette("p1", path, {"after": _ms(end)}, _history_page(ETH_ROWS[1:3])),
        _cassette("p2", path, {"after": _ms(ETH_ROWS[2][0])}, _history_page(ETH_ROWS[3:5])),
    ]

    result, requests = _run_history(cassettes, start, end, {"ETH-USDT-SWAP"})

    assert requests == 3
    # end is exclusive, 00:00 is before start but still sets the 08:00 print's interval
    assert [(p.funding_time.hour, p.funding_interval_hours) for p in result.prints] == [(8, 8), (16, 8)]


def test_spacing_intervals_keeps_a_lone_print_provisional():
    page = okx.parse_funding_rate_history(_history_page(ETH_ROWS[:1]), interval_hours=Decimal(4))

    assert okx.spacing_intervals(page.prints)[0].funding_interval_hours == Decimal(4)
