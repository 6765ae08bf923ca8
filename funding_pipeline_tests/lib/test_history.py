from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib import history, recordings
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.exchanges.model import FundingPrint, IntervalSource
from funding_pipeline.lib.http.replay import ReplayTransport, load_cassettes
from funding_pipeline.lib.snapshots import POLLS_SCHEMA, SNAPSHOT_SCHEMA
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import ChunkWriter

DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, tzinfo=UTC)
H = timedelta(hours=1)


def _print(symbol: str, at: datetime, rate: str, hours: int = 1, exchange: str = "hyperliquid") -> FundingPrint:
    return FundingPrint(exchange, symbol, at, Decimal(rate), rate, Decimal(hours), IntervalSource.DERIVED)


def _history(root) -> list[tuple]:
    with warehouse.connect(root, tables=["funding_rate_history"]) as con:
        return con.execute(
            "SELECT exchange, symbol, base_asset, funding_time, funding_rate, funding_interval_hours, funding_rate_1h, "
            "funding_apr, source FROM funding_rate_history ORDER BY exchange, symbol, funding_time"
        ).fetchall()


def test_prints_table_normalizes_converts_and_refuses():
    prints = [
        _print("kPEPE", START + H, "0.0008", hours=8),
        _print("kPEPE", START + H, "0.0009", hours=8),  # same key again: the first one stays
        _print("BTC", START + 2 * H, "0.06"),  # 6 %/h: beyond the cap
        _print("BTC", START - H, "0.0001"),  # before the day
        _print("ETH", START + 3 * H, "0.0001", hours=0),
    ]

    rows, refused = history.prints_table(prints, START, START + timedelta(days=1))

    assert rows.to_pylist() == [
        {
            "funding_time": START + H,
            "exchange": "hyperliquid",
            "symbol": "kPEPE",
            "base_asset": "PEPE",
            "funding_rate": 0.0008,
            "funding_rate_raw": "0.0008",
            "funding_interval_hours": 8.0,
            "interval_source": "derived",
            "funding_rate_1h": 0.0001,
            "funding_apr": 0.876,
            "source": "history_endpoint",
        }
    ]
    assert len(refused) == 2
    assert "beyond the venue cap of 0.04/h" in refused[0] and "interval 0 h" in refused[1]


def test_each_venue_is_held_to_its_own_cap():
    # 4.5 %/h: beyond Hyperliquid's published 4 %/h cap, within the sane 5 %/h of venues without one.
    prints = [_print("BTC", START + H, "0.045"), _print("BTC-USDT-SWAP", START + H, "0.045", exchange="okx")]

    rows, refused = history.prints_table(prints, START, START + timedelta(days=1))

    assert [(r["exchange"], r["funding_rate_1h"]) for r in rows.to_pylist()] == [("okx", 0.045)]
    assert refused == [f"hyperliquid BTC@{(START + H).isoformat()}: rate 0.045 is beyond the venue cap of 0.04/h"]
    assert (history.rate_cap("xyz"), history.rate_cap("okx")) == (Decimal("0.04"), Decimal("0.05"))


def test_the_cap_check_reads_each_venue_against_its_cap(tmp_path):
    rows = pa.table(
        {
            "funding_time": [START + H, START + H],
            "exchange": ["hyperliquid", "okx"],
            "symbol": ["BTC", "BTC-USDT-SWAP"],
            "funding_rate_1h": [0.045, 0.045],
            "funding_interval_hours": [1.0, 1.0],
        }
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("incoming", rows)
        con.execute("CREATE TABLE funding_rate_history AS SELECT * FROM incoming")
        bad = history.rates_beyond_cap(con, START, START + timedelta(days=1), ["hyperliquid", "okx"])

    assert bad == [["hyperliquid", "BTC", str(START + H), "0.045"]]


def test_a_rerun_of_a_day_replaces_it_and_keeps_the_other_days(tmp_path):
    wh = tmp_path / "warehouse"
    day_before = [_print("BTC", START - 2 * H, "0.0001")]
    rows, _ = history.prints_table(day_before, START - timedelta(days=1), START)
    history.write_day(wh, "hyperliquid", DAY - timedelta(days=1), rows)
    today = [_print("BTC", START + k * H, f"0.000{k}") for k in range(1, 4)]
    rows, _ = history.prints_table(today, START, START + timedelta(days=1))

    history.write_day(wh, "hyperliquid", DAY, rows)
    first = _history(tmp_path)
    history.write_day(wh, "hyperliquid", DAY, rows)

    assert _history(tmp_path) == first
    assert len(first) == 4
    assert layout.history_path(wh, "hyperliquid", DAY).name == "2026-03.duckdb"


def _snapshot(at: datetime, symbol: str, rate_1h: float, next_at: datetime, settle: float = 1.0) -> dict:
    """A Variational-like row: the rate quoted per year (8760 h), paid every `settle` hours."""
    stated = 8760.0
    row = dict.fromkeys(SNAPSHOT_SCHEMA.names)
    row.update(
        observed_at=at,
        exchange="variational",
        symbol=symbol,
        base_asset=symbol,
        contract_multiplier=1.0,
        mark_price=100.0,
        funding_rate=rate_1h * stated,
        funding_rate_raw=str(rate_1h * stated),
        rate_unit="decimal",
        funding_interval_hours=stated,
        interval_source="fixed",
        settlement_interval_hours=settle,
        funding_rate_1h=rate_1h,
        funding_apr=rate_1h * 8760,
        next_funding_at=next_at,
    )
    return row


def _chunk(wh, start: datetime, rows: list[dict]) -> None:
    writer = ChunkWriter(layout.chunk_path(wh, start))
    writer.append(pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA), POLLS_SCHEMA.empty_table())
    writer.close()


def test_prints_derived_from_snapshots_take_the_last_rate_before_each_boundary(tmp_path):
    """BTC settles hourly, ETH every 4 h; snapshots every 15 s near each boundary."""
    wh = tmp_path / "warehouse"
    b10, b11, b12 = START + 10 * H, START + 11 * H, START + 12 * H
    q = timedelta(seconds=15)
    # 09:55-09:59:45 chunk: BTC heading to 10:00 at 0.0001/h, then 0.0002/h in its last slot
    _chunk(
        wh,
        b10 - timedelta(minutes=5),
        [
            _snapshot(b10 - 2 * q, "BTC", 0.0001, b10),
            _snapshot(b10 - q, "BTC", 0.0002, b10),
            _snapshot(b10 - q, "ETH", 0.00005, b12, settle=4.0),
        ],
    )
    # 10:55 chunk: BTC's last snapshot before 11:00 at 0.0003/h
    _chunk(wh, b11 - timedelta(minutes=5), [_snapshot(b11 - q, "BTC", 0.0003, b11)])
    # 11:30 chunk: BTC's 12:00 boundary last seen 30 min early (stale), ETH's 12:00 too
    _chunk(
        wh,
        b11 + timedelta(minutes=30),
        [
            _snapshot(b11 + timedelta(minutes=30), "BTC", 0.0004, b12),
            _snapshot(b11 + timedelta(minutes=30), "ETH", 0.00006, b12, settle=4.0),
        ],
    )
    # 11:55 chunk: ETH last seen 15 s before 12:00
    _chunk(wh, b12 - timedelta(minutes=5), [_snapshot(b12 - q, "ETH", 0.00007, b12, settle=4.0)])

    report = history.derived_day(wh, "variational", DAY)

    got = [(s, t, r, h, r1) for _, s, _, t, r, h, r1, _, _ in _history(tmp_path)]
    assert got == [
        # first boundary seen: the market's stated settlement interval (1 h); last rate 0.0002
        ("BTC", b10, 0.0002, 1.0, 0.0002),
        # 1 h since 10:00; 0.0003 x 1
        ("BTC", b11, 0.0003, 1.0, 0.0003),
        # BTC 12:00 last seen 30 min early: not a settled print. ETH 12:00: paid every 4 h,
        # its last rate 0.00007/h x 4
        ("ETH", b12, pytest.approx(0.00028), 4.0, 0.00007),
    ]
    assert report.rows == 3 and report.source == "snapshots"


def test_a_first_boundary_without_a_settlement_interval_is_skipped(tmp_path):
    wh = tmp_path / "warehouse"
    b8 = START + 8 * H
    _chunk(wh, b8 - timedelta(minutes=5), [_snapshot(b8 - timedelta(seconds=15), "SOL", 0.0001, b8, settle=48.0)])

    report = history.derived_day(wh, "variational", DAY)

    assert report.rows == 0 and _history(tmp_path) == []


def test_gaps_beyond_two_intervals_per_symbol(tmp_path):
    wh = tmp_path / "warehouse"
    prints = [_print("BTC", START + k * H, "0.0001") for k in (1, 2, 3, 7, 8)]  # 3 -> 7: a 4 h hole
    prints += [_print("ETH", START + k * H, "0.0008", hours=8) for k in (0, 8, 16)]
    rows, _ = history.prints_table(prints, START, START + timedelta(days=1))
    history.write_day(wh, "hyperliquid", DAY, rows)

    with history.history_connection(wh, ["hyperliquid"], START, START + timedelta(days=1)) as con:
        found = history.gaps(con, START, START + timedelta(days=1))
        dupes = history.duplicate_prints(con, START, START + timedelta(days=1))

    assert found == {"hyperliquid": {"BTC": 1}}
    assert dupes == []


def test_history_day_from_generated_cassettes(tmp_path):
    """A day of Binance through the venue module and the replay transport, written and re-read."""
    end = START + timedelta(days=1)
    model = recordings.MarketModel(now=end, origin=START - timedelta(days=3))
    exchange = all_exchanges()["binance"]
    recorder = recordings.record_history(exchange, [(START, end)], model)
    folder = tmp_path / "replay" / "binance"
    recordings.write_cassettes(folder, recorder.cassettes)
    transport = ReplayTransport(load_cassettes(folder), 0)
    listing = [c for c in load_cassettes(recordings.BUNDLED_RECORDINGS / "binance")]
    transport.cassettes = type(transport.cassettes)((*transport.cassettes, *listing))

    report = history.history_day(tmp_path / "warehouse", exchange, DAY, transport, sleep=history.no_sleep)

    stored = _history(tmp_path)
    expected = sum(len(recordings.expected_prints(model, "binance", s, START, end)) for s in {r[1] for r in stored})
    assert report.rows == len(stored) == expected > 0
    assert report.rejected == []
    assert {r[8] for r in stored} == {"history_endpoint"}
