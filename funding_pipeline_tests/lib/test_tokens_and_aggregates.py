"""The hand-built hour of `funding_pipeline_tests.handbuilt`; every expected value below is
worked out by hand."""

from datetime import timedelta

import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib.aggregates import write_stats_1h
from funding_pipeline.lib.polling import PollOutcome
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.tokens import (
    ArbitrageConfig,
    ArbitrageSettingsError,
    load_arbitrage_config,
    write_arbitrage,
    write_cross_exchange,
    write_normalized_tokens,
)
from funding_pipeline_tests.handbuilt import HL_BTC, HOUR, build_chunk, row


@pytest.fixture
def wh(tmp_path):
    build_chunk(tmp_path / "warehouse", HOUR, range(6))
    return tmp_path / "warehouse"


def test_minute_buckets(wh):
    con = warehouse.connect(wh.parent)

    rows = con.execute(
        "SELECT bucket_start, samples, mark_price_open, mark_price_high, mark_price_low, mark_price_close, "
        "funding_rate_1h_avg, funding_rate_1h_min, funding_rate_1h_max FROM market_stats_1m "
        "WHERE exchange = 'hyperliquid' AND symbol = 'BTC' ORDER BY bucket_start"
    ).fetchall()

    assert rows[0][:6] == (HOUR, 4, 100.0, 102.0, 99.0, 101.0)
    assert rows[0][6:] == pytest.approx((0.00002, 0.00001, 0.00003), rel=1e-12)
    assert rows[1][:6] == (HOUR + timedelta(minutes=1), 2, 103.0, 104.0, 103.0, 104.0)
    assert rows[1][6] == pytest.approx(0.00005, rel=1e-12)


def test_hour_bucket_is_sample_weighted(wh):
    write_stats_1h(wh, HOUR)
    con = warehouse.connect(wh.parent)

    samples, o, h, low, c, avg = con.execute(
        "SELECT samples, mark_price_open, mark_price_high, mark_price_low, mark_price_close, funding_rate_1h_avg "
        "FROM market_stats_1h WHERE exchange = 'hyperliquid' AND symbol = 'BTC'"
    ).fetchone()

    assert (samples, o, h, low, c) == (6, 100.0, 104.0, 99.0, 104.0)
    assert avg == pytest.approx(0.00003, rel=1e-12)  # (0.00002*4 + 0.00005*2) / 6, not (0.00002+0.00005)/2
    eight_hourly = con.execute("SELECT funding_rate_1h_avg FROM market_stats_1h WHERE symbol = 'BTCUSDT'").fetchone()[0]
    assert eight_hourly == pytest.approx(0.0000125, rel=1e-12)  # 0.0001 per 8 h


def test_hour_rerun_is_identical_and_late_chunk_is_picked_up(wh):
    write_stats_1h(wh, HOUR)
    first = warehouse.connect(wh.parent).execute("SELECT * FROM market_stats_1h ORDER BY ALL").fetchall()
    write_stats_1h(wh, HOUR)
    assert warehouse.connect(wh.parent).execute("SELECT * FROM market_stats_1h ORDER BY ALL").fetchall() == first

    # A relaunched run closes chunk 10:05 after the hour was first aggregated.
    build_chunk(wh, HOUR + timedelta(minutes=5), range(20, 22))
    write_stats_1h(wh, HOUR)

    samples = (
        warehouse.connect(wh.parent)
        .execute("SELECT samples FROM market_stats_1h WHERE exchange = 'hyperliquid' AND symbol = 'BTC'")
        .fetchone()[0]
    )
    assert samples == 8
    assert len(warehouse.connect(wh.parent).execute("SELECT * FROM market_stats_1h").fetchall()) == 5


def test_normalized_tokens_units_and_multipliers(wh):
    write_normalized_tokens(wh, layout.chunk_path(wh, HOUR), HOUR + timedelta(minutes=5))
    con = warehouse.connect(wh.parent)

    tokens = {
        (r[0], r[1], r[2]): r[3:]
        for r in con.execute(
            "SELECT base_asset, exchange, symbol, price_usd, funding_rate, funding_interval_hours, funding_rate_1h, "
            "funding_rate_8h, funding_apr, snapshot_age_s, is_primary FROM normalized_tokens"
        ).fetchall()
    }

    assert set(tokens) == {
        ("BTC", "hyperliquid", "BTC"),
        ("PEPE", "hyperliquid", "kPEPE"),
        ("BTC", "binance", "BTCUSDT"),
        ("BTC", "binance", "BTCUSDC"),
        ("PEPE", "binance", "1000PEPEUSDT"),
    }
    # latest HL BTC slot 10:01:15: 0.00006/h -> 0.00048/8h -> 0.5256/yr; 225 s before 10:05
    assert tokens[("BTC", "hyperliquid", "BTC")] == pytest.approx(
        (104.0, 0.00006, 1.0, 0.00006, 0.00048, 0.5256, 225.0, True)
    )
    # 0.0001 per 8 h -> 0.0000125/h -> 0.1095/yr
    assert tokens[("BTC", "binance", "BTCUSDT")] == pytest.approx(
        (100.5, 0.0001, 8.0, 0.0000125, 0.0001, 0.1095, 225.0, True)
    )
    assert tokens[("BTC", "binance", "BTCUSDC")][-1] is False  # less open interest: kept, not primary
    assert tokens[("PEPE", "hyperliquid", "kPEPE")][0] == pytest.approx(0.000012)  # 0.012 per 1000 PEPE
    assert tokens[("PEPE", "binance", "1000PEPEUSDT")][0] == pytest.approx(0.0000121)


def test_arbitrage_and_cross_exchange(wh):
    now = HOUR + timedelta(minutes=5)
    write_normalized_tokens(wh, layout.chunk_path(wh, HOUR), now)
    write_arbitrage(wh, ArbitrageConfig(min_open_interest_usd=1000, min_volume_24h_usd=1000), now)
    write_cross_exchange(wh, now)
    con = warehouse.connect(wh.parent)

    arb = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT base_asset, long_exchange, short_exchange, long_funding_apr, short_funding_apr, spread_apr, "
            "net_spread_apr, intervals_differ, mark_price_spread, venues FROM funding_arbitrage WHERE period = 'live'"
        ).fetchall()
    }

    btc = arb["BTC"]
    assert btc[:2] == ("binance", "hyperliquid")
    # spread 0.5256 - 0.1095 = 0.4161; fees 2 x (0.0005 + 0.0005) x 365 / 7 days = 0.104285714...
    assert btc[2:5] == pytest.approx((0.1095, 0.5256, 0.4161))
    assert btc[5] == pytest.approx(0.3118142857142857)
    assert btc[6] is True
    assert btc[7] == pytest.approx(3.5 / 102.25)  # (104 - 100.5) / mid
    assert btc[8] == 2
    pepe = arb["PEPE"]  # -0.0002/8h = -0.219/yr long on binance; 0.00001/h = 0.0876/yr short on HL
    assert pepe[:2] == ("binance", "hyperliquid")
    assert pepe[4] == pytest.approx(0.3066)

    period, oi_apr, vol_apr, venues, total_oi, total_volume = con.execute(
        "SELECT period, oi_weighted_apr, volume_weighted_apr, venues, total_open_interest_usd, total_volume_24h_usd "
        "FROM cross_exchange_funding WHERE base_asset = 'BTC'"
    ).fetchone()
    # primary BTC markets: HL OI 10000 x 104 = 1,040,000 at 0.5256; Binance 10000 x 100.5 = 1,005,000 at 0.1095
    assert oi_apr == pytest.approx((0.5256 * 1_040_000 + 0.1095 * 1_005_000) / 2_045_000)
    assert vol_apr == pytest.approx((0.5256 + 0.1095) / 2)  # equal volumes
    assert (period, venues, total_oi, total_volume) == ("live", 2, 2_045_000.0, 10_000_000.0)

    weights = con.execute(
        "SELECT period, exchange, symbol, funding_apr, open_interest_usd, oi_weight, volume_weight "
        "FROM cross_exchange_weights WHERE base_asset = 'BTC' ORDER BY exchange"
    ).fetchall()
    assert weights == [
        ("live", "binance", "BTCUSDT", pytest.approx(0.1095), 1_005_000.0, pytest.approx(1_005_000 / 2_045_000), 0.5),
        ("live", "hyperliquid", "BTC", pytest.approx(0.5256), 1_040_000.0, pytest.approx(1_040_000 / 2_045_000), 0.5),
    ]
    assert con.execute("SELECT count(*), count(DISTINCT base_asset) FROM cross_exchange_weights").fetchone() == (
        4,
        2,
    )  # one row per (base asset, venue): the primary markets only


def test_filters_drop_thin_markets(wh):
    now = HOUR + timedelta(minutes=5)
    write_normalized_tokens(wh, layout.chunk_path(wh, HOUR), now)

    write_arbitrage(wh, ArbitrageConfig(min_open_interest_usd=1_020_000), now)

    bases = warehouse.connect(wh.parent).execute("SELECT base_asset FROM funding_arbitrage").fetchall()
    # Binance BTC (1,005,000 USD OI) is filtered out, leaving BTC on one venue; PEPE legs hold 1.2M+ USD
    assert bases == [("PEPE",)]


def equal_rates(at, i) -> list[PollOutcome]:
    """BTC at 0.0001 per 8 h on three venues: every APR is 0.1095."""
    return [
        PollOutcome(e, at, True, rows=[row(e, s, "100", "0.0001", "8")])
        for e, s in (("okx", "BTC-USDT-SWAP"), ("binance", "BTCUSDT"), ("bybit", "BTCUSDT"))
    ]


def test_equal_aprs_on_every_venue_still_give_a_pair(tmp_path):
    wh = tmp_path / "warehouse"
    build_chunk(wh, HOUR, range(2), equal_rates)
    now = HOUR + timedelta(minutes=5)
    write_normalized_tokens(wh, layout.chunk_path(wh, HOUR), now)

    write_arbitrage(wh, ArbitrageConfig(), now)

    rows = (
        warehouse.connect(wh.parent)
        .execute(
            "SELECT base_asset, long_exchange, short_exchange, long_funding_apr, short_funding_apr, spread_apr, "
            "net_spread_apr, venues FROM funding_arbitrage"
        )
        .fetchall()
    )
    # long: lowest APR, ties by venue name (binance); short: highest APR among the other venues (bybit)
    assert rows == [("BTC", "binance", "bybit", 0.1095, 0.1095, 0.0, pytest.approx(-2 * 0.001 * 365 / 7), 3)]


def test_arbitrage_settings_precedence_run_config_then_variables_then_defaults():
    env = {
        "FUNDING_ARB_MIN_OI_USD": "250000",
        "FUNDING_ARB_TAKER_FEE": "0.0004",
        "FUNDING_ARB_TAKER_FEES": "binance=0.0002, okx=0.0003",
        "FUNDING_ARB_HOLDING_DAYS": "14",
    }

    assert load_arbitrage_config({}) == ArbitrageConfig(100_000.0, 100_000.0, 0.0005, {}, 7.0)
    assert load_arbitrage_config(env) == ArbitrageConfig(
        250_000.0, 100_000.0, 0.0004, {"binance": 0.0002, "okx": 0.0003}, 14.0
    )
    assert load_arbitrage_config(
        env, min_open_interest_usd=None, holding_days=3, taker_fees={"okx": 0.0001, "bybit": 0.00055}
    ) == ArbitrageConfig(250_000.0, 100_000.0, 0.0004, {"binance": 0.0002, "okx": 0.0001, "bybit": 0.00055}, 3.0)


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({"FUNDING_ARB_TAKER_FEE": "5"}, {}, r"FUNDING_ARB_TAKER_FEE='5': a taker fee is a decimal per trade"),
        ({"FUNDING_ARB_MIN_VOLUME_USD": "lots"}, {}, r"FUNDING_ARB_MIN_VOLUME_USD='lots' is not a number"),
        ({"FUNDING_ARB_TAKER_FEES": "binance"}, {}, r"'binance' is not <exchange>=<fee>"),
        ({}, {"holding_days": 0}, "holding_days must be more than 0"),
        ({}, {"min_open_interest_usd": -1}, "min_open_interest_usd=-1 must be at least 0"),
        ({}, {"taker_fees": {"binanse": 0.0004}}, r"unknown exchange id\(s\): binanse"),
    ],
)
def test_invalid_arbitrage_settings_name_the_setting(env, overrides, message):
    with pytest.raises(ArbitrageSettingsError, match=message):
        load_arbitrage_config(env, known_exchanges=["binance", "okx"], **overrides)


def test_last_open_interest_and_volume_skip_missing_answers(tmp_path):
    """A market whose last answers of a minute lack open interest or volume keeps the last known
    value; an hour whose last minute has none keeps the minute before's."""

    def outcomes(at, i):
        mark, rate = HL_BTC.get(i, ("105", "0.00003"))
        r = row("hyperliquid", "BTC", mark, rate, "1", oi_base=str(10 + i), volume=str(5000 + i))
        if i >= 2:  # the last two slots of minute :00 and all of minute :01
            r = r._replace(open_interest_base=None, open_interest_usd=None)
        if i == 3:
            r = r._replace(volume_24h_usd=None)
        return [PollOutcome("hyperliquid", at, True, rows=[r])]

    wh = tmp_path / "warehouse"
    build_chunk(wh, HOUR, range(6), outcomes)
    write_stats_1h(wh, HOUR)
    con = warehouse.connect(wh.parent)
    minutes = con.execute(
        "SELECT open_interest_usd_last, volume_24h_usd_last FROM market_stats_1m ORDER BY bucket_start"
    ).fetchall()
    hour = con.execute("SELECT open_interest_usd_last, volume_24h_usd_last FROM market_stats_1h").fetchone()

    # minute :00: slot 1 is the last with open interest (11 x 102), slot 2 the last with volume;
    # minute :01 has no open interest at all, and volume 5005 from slot 5.
    assert minutes == [(11 * 102.0, 5002.0), (None, 5005.0)]
    assert hour == (11 * 102.0, 5005.0)
