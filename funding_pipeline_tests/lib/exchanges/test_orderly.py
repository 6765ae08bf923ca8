import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import orderly
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 8, 6, 13, 15, 30, tzinfo=UTC)
FUTURES = "futures.edited_ccxt_comment_example.json"
RATES = "funding_rates.edited_ccxt_comment_example.json"


def _parse(futures=FUTURES, rates=RATES):
    futures = futures if isinstance(futures, dict) else load("orderly", futures)
    rates = rates if isinstance(rates, dict) else load("orderly", rates)
    return orderly.parse_futures(futures, observed_at=OBSERVED, funding_rates=rates)


def test_btc_8h_from_the_real_futures_row():
    result = _parse()

    assert [r.symbol for r in result.rows] == ["PERP_BTC_USDC", "PERP_ETH_USDC", "PERP_1000PEPE_USDC"]
    btc = result.rows[0]
    assert btc.mark_price == Decimal("64171.0")
    assert btc.index_price == Decimal("64185.4")
    assert btc.funding_rate == Decimal("0.0001")
    # next_funding_time - last_funding_rate_timestamp = 1786032000000 - 1786003200000 = 28_800_000 ms
    assert btc.funding_interval_hours == Decimal(8)
    assert btc.interval_source is IntervalSource.DERIVED
    assert btc.next_funding_at == datetime(2026, 8, 6, 16, tzinfo=UTC)  # 1786032000000
    assert btc.open_interest_base == Decimal("110.64612")
    # 110.64612 * 64171.0 = 7_100_272.16652
    assert btc.open_interest_usd == Decimal("7100272.16652")
    assert btc.volume_24h_usd == Decimal("6595662.199482")  # 24h_amount, USDC notional


def test_eth_negative_rate_1h_and_string_open_interest():
    result = _parse()

    eth = result.rows[1]
    assert eth.funding_rate == Decimal("-0.0000125")
    assert eth.funding_rate_raw == "-0.0000125"
    # 1786024800000 - 1786021200000 = 3_600_000 ms = 1 h
    assert eth.funding_interval_hours == Decimal(1)
    assert eth.next_funding_at == datetime(2026, 8, 6, 14, tzinfo=UTC)
    assert eth.open_interest_base == Decimal("2150.3")  # sent as the string "2150.3"
    # 2150.3 * 3104.9 = 6_676_466.47
    assert eth.open_interest_usd == Decimal("6676466.47")


def test_multiplier_market_kept_verbatim_4h_without_volume():
    result = _parse()

    pepe = result.rows[2]
    assert pepe.symbol == "PERP_1000PEPE_USDC"  # prices are per 1000 PEPE; normalisation is shared code
    assert pepe.mark_price == Decimal("0.0112")
    # 1786032000000 - 1786017600000 = 14_400_000 ms = 4 h
    assert pepe.funding_interval_hours == Decimal(4)
    # 512_000_000 * 0.0112 = 5_734_400
    assert pepe.open_interest_usd == Decimal("5734400")
    assert pepe.volume_24h_usd is None  # 24h_amount absent
    assert normalize(pepe.exchange, pepe.symbol, pepe.base_hint) == ("PEPE", Decimal(1000))


def test_market_without_funding_row_is_skipped():
    # Orderly quirk: /futures also lists pre-launch markets that /funding_rates does not carry.
    result = _parse()

    assert result.skipped == 1  # PERP_WOO_USDC
    assert result.rejected == []


def test_real_examples_share_no_market():
    result = _parse(futures="futures.ccxt_comment_example.json", rates="funding_rates.ccxt_comment_example.json")

    assert (result.rows, result.rejected, result.skipped) == ([], [], 1)


def test_docs_placeholder_rate_rejected_by_the_sanity_cap():
    # The docs example's est_funding_rate 123 (per 8h) is no real rate: rejected, others kept.
    result = _parse(rates="funding_rates.ccxt_comment_example.json")

    (error,) = result.rejected
    assert error.path == "$.data.rows[1]"
    assert error.value == Decimal(123)


def test_bad_mark_price_rejected_others_kept():
    futures = load("orderly", FUTURES)
    futures["data"]["rows"][0]["mark_price"] = None

    result = _parse(futures=futures)

    assert [r.symbol for r in result.rows] == ["PERP_ETH_USDC", "PERP_1000PEPE_USDC"]
    (error,) = result.rejected
    assert error.path == "$.data.rows[0].mark_price"


def test_failed_envelope_fails_the_poll():
    with pytest.raises(ParseError, match="request failed"):
        _parse(futures={"success": False, "code": -1003, "message": "rate limit"})


def test_history_page_parsing():
    page, more = orderly.parse_funding_rate_history(
        load("orderly", "funding_rate_history.ccxt_comment_example.json"), fallback_hours=Decimal(8)
    )

    (print_,) = page.prints
    assert print_.symbol == "PERP_ETH_USDC"
    assert print_.funding_rate == Decimal("0.0001")
    assert print_.funding_time == datetime(2023, 5, 16, 8, tzinfo=UTC)  # 1684224000000
    # 1684252800000 - 1684224000000 = 28_800_000 ms = 8 h
    assert print_.funding_interval_hours == Decimal(8)
    assert more is False  # 1 row on a page of 25


# -- history pagination over a replay transport ----------------------------------------------------

T = 1786003200000  # 2026-08-06 08:00 UTC
H = 3_600_000


def _page(rows, total, page, per_page=2) -> dict:
    base = load("orderly", "funding_rate_history.ccxt_comment_example.json")
    out = []
    for symbol, at, nxt, rate in rows:
        row = copy.deepcopy(base["data"]["rows"][0])
        row.update(symbol=symbol, funding_rate_timestamp=at, next_funding_time=nxt, funding_rate=rate)
        out.append(row)
    meta = {"total": total, "records_per_page": per_page, "current_page": page}
    return {**base, "data": {"rows": out, "meta": meta}}


def _cassette(name, path, params, body) -> Cassette:
    return cassette(orderly.VENUE.base_url + path, body, params=params, name=name)


def test_history_follows_pages_and_interval_changes():
    start, end = datetime(2026, 8, 5, 16, tzinfo=UTC), datetime(2026, 8, 6, 14, tzinfo=UTC)
    listing = load("orderly", RATES)
    path = orderly.PATHS[orderly.HISTORY]
    btc = "PERP_BTC_USDC"
    cassettes = [
        _cassette("list", orderly.PATHS[orderly.FUNDING_RATES], {}, listing),
        # BTC switched from 8h to 4h settlements after 2026-08-06 00:00
        _cassette(
            "btc1",
            path,
            {"symbol": btc, "page": "1"},
            _page([(btc, T + 4 * H, T + 8 * H, -0.00002), (btc, T, T + 4 * H, 0.0001)], 5, 1),
        ),
        _cassette(
            "btc2",
            path,
            {"symbol": btc, "page": "2"},
            _page([(btc, T - 8 * H, T, 0.00011), (btc, T - 16 * H, T - 8 * H, 0.00012)], 5, 2),
        ),
        _cassette("btc3", path, {"symbol": btc, "page": "3"}, _page([(btc, T - 24 * H, T - 16 * H, 0.00013)], 5, 3)),
        # ETH: meta promises a second page that comes back empty
        _cassette(
            "eth1",
            path,
            {"symbol": "PERP_ETH_USDC", "page": "1"},
            _page([("PERP_ETH_USDC", T + H, T + 2 * H, 0.00001), ("PERP_ETH_USDC", T, T + H, 0.00002)], 4, 1),
        ),
        _cassette("eth2", path, {"symbol": "PERP_ETH_USDC", "page": "2"}, _page([], 4, 2)),
    ]

    result, requests = replay(
        orderly.VENUE, cassettes, lambda http: orderly.history(http, start, end, {btc, "PERP_ETH_USDC"})
    )

    assert requests == 1 + 3 + 2
    assert result.rejected == []
    got = [(p.symbol, p.funding_time.hour, p.funding_interval_hours, p.funding_rate) for p in result.prints]
    # T - 24h (2026-08-05 08:00) is before start: dropped, but it sets the 16:00 print's interval.
    # Each settled rate accrued since the settlement before it: 8h up to T, then 4h (T -> T + 4h).
    assert got == [
        (btc, 16, 8, Decimal("0.00012")),
        (btc, 0, 8, Decimal("0.00011")),
        (btc, 8, 8, Decimal("0.0001")),
        ("PERP_ETH_USDC", 8, 1, Decimal("0.00002")),  # oldest ETH print: its next_funding_time gap
        ("PERP_ETH_USDC", 9, 1, Decimal("0.00001")),
        (btc, 12, 4, Decimal("-0.00002")),
    ]
    assert [p.funding_time.day for p in result.prints] == [5, 6, 6, 6, 6, 6]
