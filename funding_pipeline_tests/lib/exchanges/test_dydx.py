import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import dydx
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
EDITED = "perpetualMarkets.edited_ccxt_comment_example.json"


def test_real_btc_market():
    result = dydx.parse_perpetual_markets(
        load("dydx", "perpetualMarkets.ccxt_comment_example.json"), observed_at=OBSERVED
    )

    (btc,) = result.rows
    assert btc.symbol == "BTC-USD"
    # dYdX has no mark price: positions are marked to the oracle price, which is also the index
    assert btc.mark_price == Decimal("118976.5376")
    assert btc.index_price == Decimal("118976.5376")
    assert btc.funding_rate == Decimal("0")
    assert btc.funding_rate_raw == "0"
    assert btc.funding_interval_hours == Decimal(1)
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.open_interest_base == Decimal("52.0691")
    # 52.0691 * 118976.5376 = 6_195_001.23394816
    assert btc.open_interest_usd == Decimal("6195001.23394816")
    assert btc.volume_24h_usd == Decimal("1292729.3605")
    assert btc.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)  # next full hour


def test_negative_hourly_rate_and_missing_volume():
    result = dydx.parse_perpetual_markets(load("dydx", EDITED), observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTC-USD", "ETH-USD"]
    eth = result.rows[1]
    assert eth.funding_rate == Decimal("-0.0000104")  # per 1 hour, as published
    assert eth.funding_interval_hours == Decimal(1)
    assert eth.mark_price == Decimal("3791.2")
    # 1210.5 * 3791.2 = 4_589_247.6
    assert eth.open_interest_usd == Decimal("4589247.6")
    assert eth.volume_24h_usd is None


def test_non_active_market_skipped():
    result = dydx.parse_perpetual_markets(load("dydx", EDITED), observed_at=OBSERVED)

    assert result.skipped == 1  # LUNA-USD in FINAL_SETTLEMENT
    assert result.rejected == []


def test_rate_is_next_funding_rate_not_default_interest():
    # The previous system annualised `defaultFundingRate1H` (the interest part only); the rate
    # of a market is `nextFundingRate`.
    payload = load("dydx", EDITED)
    payload["markets"]["ETH-USD"]["defaultFundingRate1H"] = "0.0000125"

    result = dydx.parse_perpetual_markets(payload, observed_at=OBSERVED)

    assert result.rows[1].funding_rate == Decimal("-0.0000104")


def test_bad_market_rejected_with_ticker_path():
    payload = load("dydx", EDITED)
    del payload["markets"]["BTC-USD"]["oraclePrice"]

    result = dydx.parse_perpetual_markets(payload, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["ETH-USD"]
    (error,) = result.rejected
    assert error.path == "$.markets.BTC-USD.oraclePrice"


def test_markets_as_a_list_fails_the_poll():
    with pytest.raises(ParseError, match="expected an object"):
        dydx.parse_perpetual_markets({"markets": []}, observed_at=OBSERVED)


def test_history_page_parsing():
    page = dydx.parse_historical_funding(load("dydx", "historicalFunding_BTC-USD.ccxt_comment_example.json"))

    (print_,) = page.prints
    assert print_.symbol == "BTC-USD"
    assert print_.funding_rate == Decimal("0")
    assert print_.funding_time == datetime(2025, 7, 25, 11, 0, 0, 13000, tzinfo=UTC)
    assert print_.funding_interval_hours == Decimal(1)
    assert print_.interval_source is IntervalSource.FIXED


def test_history_bad_timestamp_rejected():
    payload = load("dydx", "historicalFunding_BTC-USD.ccxt_comment_example.json")
    payload["historicalFunding"][0]["effectiveAt"] = "2025-07-25T11:00:00"  # no zone: not guessed

    page = dydx.parse_historical_funding(payload)

    assert page.prints == []
    assert page.rejected[0].path == "$.historicalFunding[0].effectiveAt"


# -- history pagination over a replay transport ----------------------------------------------------


def _rows(ticker: str, hours_and_rates) -> dict:
    base = load("dydx", "historicalFunding_BTC-USD.ccxt_comment_example.json")
    out = []
    for hour, rate in hours_and_rates:
        row = copy.deepcopy(base["historicalFunding"][0])
        row.update(ticker=ticker, rate=rate, effectiveAt=f"2025-07-25T{hour:02d}:00:00.013Z")
        out.append(row)
    return {"historicalFunding": out}


def _cassette(name, ticker, before, body) -> Cassette:
    url = f"{dydx.VENUE.base_url}/v4/historicalFunding/{ticker}"
    return cassette(url, body, params={"effectiveBeforeOrAt": before}, name=name)


def test_history_pages_newest_first_until_before_start_or_empty(monkeypatch):
    monkeypatch.setattr(dydx, "PAGE_LIMIT", 2)
    start, end = datetime(2025, 7, 25, 10, tzinfo=UTC), datetime(2025, 7, 25, 13, tzinfo=UTC)
    listing = load("dydx", EDITED)
    cassettes = [
        cassette(f"{dydx.VENUE.base_url}/v4/perpetualMarkets", listing, name="list"),
        # BTC: second page reaches before start -> stop
        _cassette("b1", "BTC-USD", "2025-07-25T12:59:59.999Z", _rows("BTC-USD", [(12, "0.00001"), (11, "0")])),
        _cassette("b2", "BTC-USD", "2025-07-25T11:00:00.012Z", _rows("BTC-USD", [(10, "-0.00002"), (9, "0.00005")])),
        # ETH: full first page, then an empty page
        _cassette("e1", "ETH-USD", "2025-07-25T12:59:59.999Z", _rows("ETH-USD", [(12, "0.00003"), (11, "0.00004")])),
        _cassette("e2", "ETH-USD", "2025-07-25T11:00:00.012Z", {"historicalFunding": []}),
        # LUNA (final settlement): listed, so asked; no funding in the window
        _cassette("l1", "LUNA-USD", "2025-07-25T12:59:59.999Z", {"historicalFunding": []}),
    ]

    result, requests = replay(dydx.VENUE, cassettes, lambda http: dydx.history(http, start, end))

    assert requests == 1 + 2 + 2 + 1
    assert result.rejected == []
    got = [(p.symbol, p.funding_time.hour, p.funding_rate) for p in result.prints]
    assert got == [  # 09:00 is before start; ascending by time, then ticker
        ("BTC-USD", 10, Decimal("-0.00002")),
        ("BTC-USD", 11, Decimal("0")),
        ("ETH-USD", 11, Decimal("0.00004")),
        ("BTC-USD", 12, Decimal("0.00001")),
        ("ETH-USD", 12, Decimal("0.00003")),
    ]
    assert {p.funding_interval_hours for p in result.prints} == {Decimal(1)}
