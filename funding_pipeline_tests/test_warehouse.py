from datetime import UTC, datetime

from funding_pipeline import warehouse
from funding_pipeline.lib.storage.schemas import TABLES


def test_empty_root_has_every_view_with_contract_columns(tmp_path):
    con = warehouse.connect(tmp_path)

    for name, table in TABLES.items():
        result = con.execute(f"SELECT * FROM {name}")
        assert [d[0] for d in result.description] == table.column_names
        assert result.fetchall() == []


def test_populated_root_reads_all_closed_chunks(collected_root):
    con = warehouse.connect(collected_root)

    count, slots, first, last = con.execute(
        "SELECT count(*), count(DISTINCT observed_at), min(observed_at), max(observed_at) FROM market_snapshots"
    ).fetchone()

    assert (count, slots) == (720, 240)  # 3 markets x 240 slots
    assert first == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert last == datetime(2026, 11, 23, 10, 59, 45, tzinfo=UTC)
    assert con.execute("SELECT sum(samples) FROM market_stats_1m").fetchone()[0] == 720


def test_units_are_derived_from_rate_and_interval(collected_root):
    con = warehouse.connect(collected_root)

    row = con.execute(
        "SELECT funding_rate_raw, funding_rate, funding_interval_hours, funding_rate_1h, funding_apr "
        "FROM market_snapshots WHERE symbol = 'BTC' ORDER BY observed_at LIMIT 1"
    ).fetchone()

    raw, rate, interval, per_hour, apr = row
    assert float(raw) == rate
    assert interval == 1.0
    assert per_hour == rate
    assert apr == per_hour * 8760


def test_open_chunks_are_not_read(collected_root):
    chunk = next((collected_root / "warehouse" / "market_snapshots").rglob("55.duckdb"))
    chunk.rename(chunk.with_name("55.duckdb.open"))

    con = warehouse.connect(collected_root)

    assert con.execute("SELECT count(*) FROM market_snapshots").fetchone()[0] == 660
