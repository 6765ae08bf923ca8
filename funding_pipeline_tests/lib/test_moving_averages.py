import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib import history, moving_averages
from funding_pipeline.lib.exchanges.model import FundingPrint, IntervalSource
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import insert_arrow, write_atomic
from funding_pipeline.lib.storage.schemas import FUNDING_RATE_MA, MARKET_STATS_1H

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "previous_system"
AS_OF = datetime(2026, 1, 10, 12, tzinfo=UTC)
H = timedelta(hours=1)


def _print(exchange: str, symbol: str, at: datetime, rate: str, hours: int) -> FundingPrint:
    return FundingPrint(exchange, symbol, at, Decimal(rate), rate, Decimal(hours), IntervalSource.DERIVED)


def _store_prints(wh: Path, prints: list[FundingPrint]) -> None:
    by_venue_day: dict[tuple, list[FundingPrint]] = {}
    for p in prints:
        by_venue_day.setdefault((p.exchange, p.funding_time.date()), []).append(p)
    for (exchange, day), group in by_venue_day.items():
        start, end = history.day_window(day)
        rows, refused = history.prints_table(group, start, end)
        assert refused == []
        history.write_day(wh, exchange, day, rows)


def _store_stats(wh: Path, rows: list[tuple[datetime, str, str, str, float]]) -> None:
    """(bucket_start, exchange, symbol, base_asset, funding_rate_1h_avg) rows, one file per day."""
    cols = MARKET_STATS_1H.column_names
    by_day: dict = {}
    for bucket, exchange, symbol, base, rate in rows:
        row = dict.fromkeys(cols)
        row.update(bucket_start=bucket, exchange=exchange, symbol=symbol, base_asset=base, samples=240)
        row["funding_rate_1h_avg"] = rate
        by_day.setdefault(bucket.date(), []).append(row)
    for day, day_rows in by_day.items():
        table = pa.Table.from_pylist(day_rows, schema=_stats_schema())
        write_atomic(
            layout.stats_1h_path(wh, day), [MARKET_STATS_1H], lambda con, t=table: insert_arrow(con, MARKET_STATS_1H, t)
        )


def _stats_schema() -> pa.Schema:
    ts = pa.timestamp("us", tz="UTC")
    types = {"bucket_start": ts, "exchange": pa.string(), "symbol": pa.string(), "base_asset": pa.string()}
    types["samples"] = pa.int32()
    return pa.schema([(c, types.get(c, pa.float64())) for c in MARKET_STATS_1H.column_names])


def _ma(root: Path) -> dict[tuple[str, str], dict]:
    with warehouse.connect(root, tables=["funding_rate_ma"]) as con:
        rows = con.execute("SELECT * FROM funding_rate_ma").to_arrow_table().to_pylist()
    return {(r["exchange"], r["period"]): r for r in rows}


@pytest.fixture
def hand_built(tmp_path) -> Path:
    """BTC on three venues around AS_OF = 2026-01-10 12:00 UTC.

    X hyperliquid BTC, hourly: 09:00 0.0001, 10:00 0.0002, 11:00 missing (a gap), 12:00 0.0004.
    Y binance BTCUSDT, 8-hourly, rate per 8 h: 01-09 16:00 0.0024 (0.0003/h), 00:00 0.0008
      (0.0001/h), 08:00 0.0016 (0.0002/h); plus 1h aggregates 08:00..11:00 at 0.0003/h.
    P paradex BTC-USD-PERP: hourly samples of a rate quoted per 8 h: 10:00 0.0008 (0.0001/h),
      11:00 0.0016 (0.0002/h); each covers the hour since the sample before, not 8 h.
    """
    root = tmp_path / "root"
    wh = root / "warehouse"
    d10 = datetime(2026, 1, 10, tzinfo=UTC)
    _store_prints(
        wh,
        [
            _print("hyperliquid", "BTC", d10 + 9 * H, "0.0001", 1),
            _print("hyperliquid", "BTC", d10 + 10 * H, "0.0002", 1),
            _print("hyperliquid", "BTC", d10 + 12 * H, "0.0004", 1),
            _print("binance", "BTCUSDT", d10 - 8 * H, "0.0024", 8),
            _print("binance", "BTCUSDT", d10, "0.0008", 8),
            _print("binance", "BTCUSDT", d10 + 8 * H, "0.0016", 8),
            _print("paradex", "BTC-USD-PERP", d10 + 10 * H, "0.0008", 8),
            _print("paradex", "BTC-USD-PERP", d10 + 11 * H, "0.0016", 8),
        ],
    )
    _store_stats(wh, [(d10 + h * H, "binance", "BTCUSDT", "BTC", 0.0003) for h in (8, 9, 10, 11)])
    moving_averages.write_moving_averages(wh, AS_OF, min_coverage=0.8)
    return root


def test_exact_values_for_a_series_with_a_gap(hand_built):
    ma = _ma(hand_built)

    # X 1h [11:00, 12:00): the 12:00 print alone
    assert ma["hyperliquid", "1h"]["ma_funding_rate_1h"] == pytest.approx(0.0004, rel=1e-12)
    assert ma["hyperliquid", "1h"]["ma_funding_apr"] == pytest.approx(3.504, rel=1e-12)
    assert (ma["hyperliquid", "1h"]["samples"], ma["hyperliquid", "1h"]["coverage"]) == (1, 1.0)
    # X 4h [08:00, 12:00): 09:00, 10:00, 12:00 one hour each; 10:00-11:00 is the gap:
    # (0.0001 + 0.0002 + 0.0004) / 3 = 0.000233333..., coverage 3/4, below 0.8 -> invalid
    x4 = ma["hyperliquid", "4h"]
    assert x4["ma_funding_rate_1h"] == pytest.approx(0.0007 / 3, rel=1e-12)
    assert (x4["samples"], x4["coverage"], x4["valid"], x4["source"]) == (3, 0.75, False, "history")
    # X 12h [00:00, 12:00): 3 of 12 hours
    assert ma["hyperliquid", "12h"]["coverage"] == 0.25


def test_time_weighting_and_straddling_prints(hand_built):
    ma = _ma(hand_built)

    # Y 1d [01-09 12:00, 12:00): the 16:00 print covers 08:00-16:00, 4 h of it in the window
    # (4 x 0.0003 + 8 x 0.0001 + 8 x 0.0002) / 20 = 0.0036 / 20 = 0.00018; coverage 20/24
    y1d = ma["binance", "1d"]
    assert y1d["ma_funding_rate_1h"] == pytest.approx(0.00018, rel=1e-12)
    assert (y1d["samples"], y1d["valid"], y1d["source"]) == (3, True, "history")
    assert y1d["coverage"] == pytest.approx(20 / 24, abs=1e-9)
    # Y 8h [04:00, 12:00): settled history covers 04:00-08:00 (0.0002), the aggregates
    # 08:00-12:00: a tie at 0.5, settled history wins; invalid
    y8 = ma["binance", "8h"]
    assert (y8["ma_funding_rate_1h"], y8["coverage"], y8["valid"], y8["source"]) == (
        pytest.approx(0.0002, rel=1e-12),
        0.5,
        False,
        "history",
    )
    # Y 4h [08:00, 12:00): nothing settled yet, the aggregates cover all of it
    y4 = ma["binance", "4h"]
    assert (y4["ma_funding_rate_1h"], y4["samples"], y4["coverage"], y4["source"]) == (
        pytest.approx(0.0003, rel=1e-12),
        4,
        1.0,
        "stats_1h",
    )


def test_observations_cover_the_time_since_the_previous_one_not_their_quote_period(hand_built):
    ma = _ma(hand_built)

    # P 4h [08:00, 12:00): 10:00 has no sample before it -> covers 02:00-10:00, 2 h inside;
    # 11:00 covers 10:00-11:00 only: (2 x 0.0001 + 1 x 0.0002) / 3 = 0.000133333...
    p4 = ma["paradex", "4h"]
    assert p4["ma_funding_rate_1h"] == pytest.approx(0.0004 / 3, rel=1e-12)
    assert p4["coverage"] == 0.75
    # P 1h [11:00, 12:00): the 11:00 sample covers 10:00-11:00, so nothing
    assert ("paradex", "1h") not in ma


def test_across_venues_weights_each_venue_by_its_hours_of_data(hand_built):
    ma = _ma(hand_built)

    # 4h: X 0.00023333 over 3 h, Y 0.0003 over 4 h, P 0.00013333 over 3 h
    # (0.0007 + 0.0012 + 0.0004) / 10 = 0.00023
    all4 = ma["_all", "4h"]
    assert all4["ma_funding_rate_1h"] == pytest.approx(0.00023, rel=1e-12)
    assert all4["ma_funding_apr"] == pytest.approx(0.00023 * 8760, rel=1e-12)
    assert (all4["samples"], all4["coverage"], all4["valid"], all4["source"]) == (9, 1.0, True, "mixed")


def test_rerun_is_identical(hand_built):
    first = _ma(hand_built)
    moving_averages.write_moving_averages(hand_built / "warehouse", AS_OF, min_coverage=0.8)
    assert _ma(hand_built) == first


def test_accumulated_funding_sums_settled_prints(hand_built):
    wh = hand_built / "warehouse"
    moving_averages.write_accumulated(wh, AS_OF)
    with warehouse.connect(hand_built, tables=["accumulated_funding"]) as con:
        rows = con.execute(
            "SELECT exchange, period, accumulated_rate, prints FROM accumulated_funding ORDER BY 1, 2"
        ).fetchall()
    got = {(e, p): (a, n) for e, p, a, n in rows}
    # (01-09 12:00, 12:00]: X 0.0001 + 0.0002 + 0.0004; Y 0.0024 + 0.0008 + 0.0016
    assert got["hyperliquid", "1d"] == (pytest.approx(0.0007, rel=1e-12), 3)
    assert got["binance", "1d"] == (pytest.approx(0.0048, rel=1e-12), 3)
    assert got["paradex", "7d"] == (pytest.approx(0.0024, rel=1e-12), 2)


def _write_ma(wh: Path, rows: list[tuple[str, str, float, bool]]) -> None:
    """(exchange, period, ma_funding_apr, valid) rows for base asset ETH."""
    table = pa.Table.from_pylist(
        [
            {
                "exchange": e,
                "base_asset": "ETH",
                "period": p,
                "ma_funding_rate_1h": apr / 8760,
                "ma_funding_apr": apr,
                "samples": 10,
                "coverage": 1.0 if valid else 0.5,
                "valid": valid,
                "source": "history",
                "computed_at": AS_OF,
            }
            for e, p, apr, valid in rows
        ]
    )
    write_atomic(
        layout.latest_path(wh, "funding_rate_ma"),
        [FUNDING_RATE_MA],
        lambda con: insert_arrow(con, FUNDING_RATE_MA, table),
    )


def test_arbitrage_per_window_and_persistence(tmp_path):
    wh = tmp_path / "warehouse"
    _write_ma(
        wh,
        [
            ("okx", "1h", 0.05, True),
            ("bybit", "1h", 0.30, True),
            ("lighter", "1h", 0.10, True),
            ("okx", "1d", 0.04, True),
            ("bybit", "1d", 0.20, True),
            ("okx", "7d", 0.15, True),
            ("bybit", "7d", 0.02, True),
            ("lighter", "7d", 0.90, False),  # invalid: not ranked
            ("okx", "30d", 0.1, True),  # a single venue: no pair
            ("okx", "14d", 0.07, True),  # equal MAs: still a pair, on two venues
            ("bybit", "14d", 0.07, True),
        ],
    )

    moving_averages.write_arbitrage_ma(wh, moving_averages.ArbitrageCosts(default_taker_fee=0.0, holding_days=7))

    with warehouse.connect(tmp_path, tables=["funding_arbitrage_ma"]) as con:
        rows = con.execute(
            "SELECT period, long_exchange, short_exchange, spread_apr, venues, persistence, computed_at "
            "FROM funding_arbitrage_ma ORDER BY period"
        ).fetchall()
    assert [(p, lo, sh, v, n) for p, lo, sh, _, v, n, _ in rows] == [
        ("14d", "bybit", "okx", 2, 2.0),  # tie: long the first venue by name, short the other
        ("1d", "okx", "bybit", 2, 2.0),
        ("1h", "okx", "bybit", 3, 2.0),
        ("7d", "bybit", "okx", 2, 2.0),
    ]
    assert rows[0][3] == 0.0
    assert rows[2][3] == pytest.approx(0.25)
    assert {r[6] for r in rows} == {AS_OF}


# -- real data from the previous system -------------------------------------------------------


def _lighter_prints() -> list[FundingPrint]:
    with open(FIXTURES / "lighter_history_20260204_113742.subset.csv") as f:
        return [
            # avg_funding_rate is percent per hour (the dump's APR is rate x 24 x 365)
            FundingPrint(
                "lighter",
                r["symbol"],
                datetime.fromtimestamp(int(r["hour_timestamp"]), UTC),
                Decimal(r["avg_funding_rate"]) / 100,
                r["avg_funding_rate"],
                Decimal(1),
                IntervalSource.FIXED,
            )
            for r in csv.DictReader(f)
        ]


def _paradex_prints() -> list[FundingPrint]:
    with open(FIXTURES / "paradex_fh_500.subset.csv") as f:
        return [
            FundingPrint(
                "paradex",
                r["symbol"],
                datetime.fromtimestamp(int(r["collected_at"]) / 1000, UTC),
                Decimal(r["funding_rate"]),
                r["funding_rate"],
                Decimal(8),  # Paradex's funding period
                IntervalSource.FIXED,
            )
            for r in csv.DictReader(f)
        ]


def test_previous_system_lighter_dump_loads_and_averages(tmp_path):
    """Independent check (awk over the fixture, not this code):
        awk -F, '$1=="BTC"{s+=$3;n++} END{print n, s/n}'  -> 24 rows, mean 0.001183333333 %
        awk -F, '$1=="ETH"{s+=$3;n++} END{print n, s/n}'  -> 24 rows, mean 0.002520833333 %
    The 24 hourly prints 2026-02-03 11:00 .. 2026-02-04 10:00 fill the 1d window ending at
    2026-02-04 10:00 exactly, so the 1d MA is their plain mean, /100 for decimals.
    """
    wh = tmp_path / "warehouse"
    _store_prints(wh, _lighter_prints())

    moving_averages.write_moving_averages(wh, datetime(2026, 2, 4, 10, tzinfo=UTC))

    ma = {(r["base_asset"], r["exchange"], r["period"]): r for r in _rows(tmp_path)}
    assert ma["BTC", "lighter", "1d"]["ma_funding_rate_1h"] == pytest.approx(0.00001183333333, rel=1e-9)
    assert ma["BTC", "lighter", "1d"]["ma_funding_apr"] == pytest.approx(0.10366, rel=1e-9)
    assert ma["ETH", "lighter", "1d"]["ma_funding_rate_1h"] == pytest.approx(0.00002520833333, rel=1e-9)
    assert (ma["BTC", "lighter", "1d"]["samples"], ma["BTC", "lighter", "1d"]["coverage"]) == (24, 1.0)
    # 1000FLOKI is FLOKI (multiplier prefix), a flat 0.0012 %/h
    assert ma["FLOKI", "lighter", "1d"]["ma_funding_rate_1h"] == pytest.approx(0.000012, rel=1e-12)


def test_previous_system_paradex_dump_averages_by_time_between_samples(tmp_path):
    """ETH samples at 09:01:44.906, 10:01:36.434, 11:01:37.969, 12:01:38.378, 13:01:48.910 on
    2026-01-09; rates per 8 h. Window 8h [06:00, 14:00), computed by hand:
      the first sample covers 8 h back (no sample before): 3 h 1 min 44.906 s inside = 10904.906 s;
      the others cover the time since the previous one: 3591.528, 3601.535, 3600.409, 3610.532 s.
      sum(w x rate / 8) / sum(w) with rates 0.00010011778119, 0.00010002955896, 0.00010000737552,
      0.00009980466759, 0.00009990359747 -> 1.2501806561627067e-05 per hour;
      coverage 25308.91 s / 28800 s = 0.87878159722.
    Window 4h [10:00, 14:00): 96.434 + 3601.535 + 3600.409 + 3610.532 s of the last four
      -> 1.2488290222118549e-05, coverage 0.75756319444 (invalid below 0.8).
    """
    wh = tmp_path / "warehouse"
    _store_prints(wh, _paradex_prints())

    moving_averages.write_moving_averages(wh, datetime(2026, 1, 9, 14, tzinfo=UTC), min_coverage=0.8)

    ma = {(r["base_asset"], r["period"]): r for r in _rows(tmp_path) if r["exchange"] == "paradex"}
    assert ma["ETH", "8h"]["ma_funding_rate_1h"] == pytest.approx(1.2501806561627067e-05, rel=1e-9)
    assert ma["ETH", "8h"]["coverage"] == pytest.approx(0.87878159722, abs=1e-9)
    assert (ma["ETH", "8h"]["samples"], ma["ETH", "8h"]["valid"]) == (5, True)
    assert ma["ETH", "4h"]["ma_funding_rate_1h"] == pytest.approx(1.2488290222118549e-05, rel=1e-9)
    assert ma["ETH", "4h"]["coverage"] == pytest.approx(0.75756319444, abs=1e-9)
    assert ma["ETH", "4h"]["valid"] is False


def _rows(root: Path) -> list[dict]:
    with warehouse.connect(root, tables=["funding_rate_ma"]) as con:
        return con.execute("SELECT * FROM funding_rate_ma").to_arrow_table().to_pylist()


def test_data_end_is_the_hour_after_the_newest_row(hand_built):
    assert moving_averages.data_end(hand_built / "warehouse") == AS_OF
