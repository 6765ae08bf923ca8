"""The normalized_tokens and funding_arbitrage checks pass on the hand-built hour and fail on bad data."""

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from funding_pipeline.defs.tokens.checks import all_venues_present, legs_on_different_venues, rates_consistent
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.tokens import ArbitrageConfig, write_arbitrage, write_normalized_tokens
from funding_pipeline_tests.handbuilt import HOUR, build_chunk


@pytest.fixture
def built(data_env, monkeypatch):
    """normalized_tokens and funding_arbitrage of the hand-built hour (hyperliquid and binance)."""
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,binance")
    wh = data_env / "warehouse"
    build_chunk(wh, HOUR, range(6))
    now = HOUR + timedelta(minutes=5)
    write_normalized_tokens(wh, layout.chunk_path(wh, HOUR), now)
    write_arbitrage(wh, ArbitrageConfig(min_open_interest_usd=1000, min_volume_24h_usd=1000), now)
    return wh


def evaluate(check) -> tuple[bool, dg.AssetCheckSeverity, dict]:
    result = check(dg.build_asset_check_context())
    return result.passed, result.severity, {k: v.value for k, v in result.metadata.items()}


def tamper(wh, table: str, sql: str) -> None:
    with duckdb.connect(str(layout.latest_path(wh, table))) as con:
        con.execute(sql)


def test_checks_pass_on_the_built_hour(built):
    assert evaluate(rates_consistent)[::2] == (True, {"bad_rows": 0, "examples": []})
    assert evaluate(all_venues_present)[::2] == (True, {"missing": "-"})
    assert evaluate(legs_on_different_venues)[::2] == (True, {"rows": 0})


@pytest.mark.parametrize(
    "column",
    [
        "funding_rate_1h = funding_rate_1h * 2",  # no longer rate / interval
        "funding_rate_8h = funding_rate_8h + 1e-6",
        "funding_apr = funding_apr * 365 / 24",  # APR annualized from the wrong interval
    ],
)
def test_rates_consistent_fails_on_a_wrong_unit(built, column):
    tamper(built, "normalized_tokens", f"UPDATE normalized_tokens SET {column} WHERE symbol = 'BTCUSDT'")

    passed, severity, meta = evaluate(rates_consistent)

    assert (passed, severity, meta["bad_rows"]) == (False, dg.AssetCheckSeverity.ERROR, 1)
    assert meta["examples"][0][:2] == ["binance", "BTCUSDT"]


def test_all_venues_present_warns_about_an_enabled_venue_without_rows(built, monkeypatch):
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,binance,okx,bybit")

    assert evaluate(all_venues_present) == (False, dg.AssetCheckSeverity.WARN, {"missing": "bybit, okx"})


def test_legs_on_different_venues_fails_on_a_same_venue_pair(built):
    tamper(
        built,
        "funding_arbitrage",
        "UPDATE funding_arbitrage SET short_exchange = long_exchange WHERE base_asset = 'BTC'",
    )

    assert evaluate(legs_on_different_venues) == (False, dg.AssetCheckSeverity.ERROR, {"rows": 1})
