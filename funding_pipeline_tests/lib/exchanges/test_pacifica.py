import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import pacifica
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
PRICES = "api_v1_info_prices.ccxt_comment_example.json"
PRICES_EDITED = "api_v1_info_prices.edited_ccxt_comment_example.json"
INFO = "api_v1_info.ccxt_comment_example.json"
INFO_EDITED = "api_v1_info.edited_ccxt_comment_example.json"
HISTORY = "api_v1_funding_rate_history.ccxt_comment_example.json"


def _parse(prices: dict, info: str = INFO_EDITED):
    return pacifica.parse_prices(prices, observed_at=OBSERVED, info=pacifica.parse_info(load("pacifica", info)))


def test_docs_example_xpl():
    result = _parse(load("pacifica", PRICES))

    (xpl,) = result.rows
    assert xpl.symbol == "XPL"
    assert xpl.base_hint == "XPL"  # /api/v1/info base_asset
    assert xpl.mark_price == Decimal("1.084819")
    assert xpl.index_price == Decimal("1.084524")  # oracle
    assert xpl.funding_rate == Decimal("0.00011096")  # next_funding, the rate due at the coming hour
    assert xpl.funding_rate_raw == "0.00011096"
    assert (xpl.funding_interval_hours, xpl.interval_source) == (Decimal(1), IntervalSource.FIXED)
    assert xpl.volume_24h_usd == Decimal("20896698.0672")
    assert xpl.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)


def test_open_interest_is_base_units():
    # Quirk: the REST docs call `open_interest` USD; the WS docs' BTC example (0.00524 at mark
    # 105473) and real recorded values (BTC 295 vs PUMP 2e8) only make sense as base units.
    result = _parse(load("pacifica", PRICES_EDITED))

    xpl, btc = result.rows[0], result.rows[1]
    assert xpl.open_interest_base == Decimal("3634796")
    assert xpl.open_interest_usd == Decimal("3943095.761924")  # 3634796 * 1.084819
    assert btc.open_interest_base == Decimal("0.00524")
    assert btc.open_interest_usd == Decimal("552.67852")  # 0.00524 * 105473


def test_spot_skipped_negative_rate_and_missing_optional_fields():
    result = _parse(load("pacifica", PRICES_EDITED))

    assert [r.symbol for r in result.rows] == ["XPL", "BTC", "kBONK"]
    assert result.skipped == 1  # SOL-USDC: instrument_type spot
    bonk = result.rows[2]
    assert bonk.funding_rate == Decimal("-0.0000230")
    assert bonk.open_interest_usd == Decimal("480269.758400")  # 53339600 * 0.009004
    assert bonk.volume_24h_usd is None  # volume_24h absent
    assert bonk.base_hint is None  # /info entry without base_asset (and without instrument_type)
    assert normalize(bonk.exchange, bonk.symbol, bonk.base_hint) == ("BONK", Decimal(1000))


def test_symbol_missing_from_info_rejected_others_kept():
    result = _parse(load("pacifica", PRICES_EDITED), info=INFO)  # unedited /info lists no XPL, kBONK

    assert [r.symbol for r in result.rows] == ["BTC"]
    assert [e.path for e in result.rejected] == ["$.data[0].symbol", "$.data[3].symbol"]


def test_bad_market_rejected_others_kept():
    payload = load("pacifica", PRICES_EDITED)
    payload["data"][1]["mark"] = "-1"

    result = _parse(payload)

    assert [r.symbol for r in result.rows] == ["XPL", "kBONK"]
    (error,) = result.rejected
    assert (error.path, error.reason) == ("$.data[1]", "mark price must be positive")


def test_unsuccessful_answer_fails_the_poll():
    payload = load("pacifica", PRICES)
    payload["success"] = False

    with pytest.raises(ParseError, match="success true"):
        _parse(payload)


def test_history_page_exact():
    window = (datetime(2025, 7, 29, tzinfo=UTC), datetime(2025, 7, 30, tzinfo=UTC))

    page, cursor, more, _ = pacifica.parse_funding_rate_history(
        load("pacifica", HISTORY), symbol="BTC", start=window[0], end=window[1]
    )

    (p,) = page.prints
    assert (p.symbol, p.funding_rate) == ("BTC", Decimal("0.0000125"))
    assert p.funding_time == datetime(2025, 7, 29, 16, 35, 34, 249000, tzinfo=UTC)  # 1753806934249 ms
    assert (p.funding_interval_hours, p.interval_source) == (Decimal(1), IntervalSource.FIXED)
    assert (cursor, more) == ("11114Lz77", True)


HOUR = 3_600_000
T0 = 1753806934249  # the real record's created_at


def _page(offsets: list[int], cursor: str | None, more: bool) -> dict:
    body = load("pacifica", HISTORY)
    row = body["data"][0]
    body["data"] = [{**copy.deepcopy(row), "created_at": T0 + k * HOUR, "funding_rate": f"0.00001{k}"} for k in offsets]
    body.update(next_cursor=cursor, has_more=more)
    return body


def _run(cassettes, start, end, symbols):
    return replay(
        pacifica.VENUE, cassettes, lambda http: pacifica.history(http, start, end, symbols=symbols, page_size=2)
    )


def _cassette(path: str, params: dict, body: dict) -> Cassette:
    return cassette(pacifica.VENUE.base_url + path, body, params=params, name=path)


def _btc_pages() -> list[Cassette]:
    # Newest first, most specific cassette first (a request matching several takes the first).
    return [
        _cassette(pacifica.HISTORY, {"symbol": "BTC", "cursor": "c3"}, _page([], None, False)),
        _cassette(pacifica.HISTORY, {"symbol": "BTC", "cursor": "c2"}, _page([1, 0], "c3", True)),
        _cassette(pacifica.HISTORY, {"symbol": "BTC"}, _page([3, 2], "c2", True)),
    ]


def test_history_pages_until_an_empty_last_page():
    start, end = datetime(2025, 7, 29, tzinfo=UTC), datetime(2025, 7, 30, tzinfo=UTC)

    result, requests = _run(_btc_pages(), start, end, ["BTC"])

    assert requests == 3
    assert [p.funding_rate for p in result.prints] == [Decimal(f"0.00001{k}") for k in (0, 1, 2, 3)]
    assert result.prints[0].funding_time == datetime(2025, 7, 29, 16, 35, 34, 249000, tzinfo=UTC)


def test_history_stops_once_a_newest_first_page_passes_start():
    # No time filter exists: page 2 (rows 1 and 0) already reaches before `start`, so the empty
    # third page is never asked for.
    start = datetime(2025, 7, 29, 17, 40, tzinfo=UTC)  # between rows 1 (17:35) and 2 (18:35)

    result, requests = _run(_btc_pages(), start, datetime(2025, 7, 30, tzinfo=UTC), ["BTC"])

    assert requests == 2
    assert [p.funding_time.hour for p in result.prints] == [18, 19]


def test_history_of_all_perpetuals_skips_spot():
    info = load("pacifica", INFO_EDITED)
    one_page = _page([0], None, False)
    cassettes = [_cassette(pacifica.INFO, {}, info)] + [
        _cassette(pacifica.HISTORY, {"symbol": s}, one_page) for s in ("BTC", "XPL", "kBONK")
    ]  # no cassette for SOL-USDC: asking for it would raise NoCassette

    result, requests = _run(cassettes, datetime(2025, 7, 29, tzinfo=UTC), datetime(2025, 7, 30, tzinfo=UTC), None)

    assert requests == 4
    assert [p.symbol for p in result.prints] == ["BTC", "XPL", "kBONK"]
