import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import (
    ChunkWriter,
    SchemaVersionError,
    attach_all,
    connect,
    insert_arrow,
    replace_where,
    write_atomic,
)
from funding_pipeline.lib.storage.schemas import PRICE_CANDLES

DAY1 = datetime(2026, 11, 1, tzinfo=UTC).date()


def candles(*days_close: tuple[int, float]) -> pa.Table:
    rows = [(datetime(2026, 11, d, tzinfo=UTC).date(), close) for d, close in days_close]
    return pa.table(
        {
            "day": [r[0] for r in rows],
            "symbol": ["BTC"] * len(rows),
            "open": [1.0] * len(rows),
            "high": [2.0] * len(rows),
            "low": [0.5] * len(rows),
            "close": [r[1] for r in rows],
            "volume_from": [10.0] * len(rows),
            "volume_to": [20.0] * len(rows),
            "source": ["test"] * len(rows),
        }
    )


def closes(path) -> list[float]:
    with connect(path, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT close FROM price_candles ORDER BY day").fetchall()]


def write_candles(path, table: pa.Table, first_day: int, last_day: int):
    start = datetime(2026, 11, first_day, tzinfo=UTC).date()
    end = datetime(2026, 11, last_day, tzinfo=UTC).date()
    return replace_where(path, PRICE_CANDLES, "NOT (day >= ? AND day <= ?)", [start, end], table)


def test_replace_where_rewrites_only_the_partition(tmp_path):
    path = tmp_path / "2026.duckdb"
    write_candles(path, candles((1, 100.0), (2, 101.0)), 1, 2)

    write_candles(path, candles((2, 202.0), (3, 203.0)), 2, 3)

    assert closes(path) == [100.0, 202.0, 203.0]


def test_writer_is_not_blocked_by_a_reader_in_another_process(tmp_path):
    path = tmp_path / "2026.duckdb"
    write_candles(path, candles((1, 100.0)), 1, 1)
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(path)!r}, read_only=True)
                print(con.execute("SELECT count(*) FROM price_candles").fetchone()[0], flush=True)
                sys.stdin.readline()
                print(con.execute("SELECT count(*) FROM price_candles").fetchone()[0], flush=True)
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "1"

        write_candles(path, candles((2, 101.0), (3, 102.0)), 2, 3)  # must not wait for the reader

        out, _ = reader.communicate("go\n", timeout=30)
    finally:
        reader.kill()
    assert out.strip() == "1"  # the reader kept its consistent old version
    assert closes(path) == [100.0, 101.0, 102.0]


def test_exception_mid_write_keeps_previous_file(tmp_path):
    path = tmp_path / "2026.duckdb"
    write_candles(path, candles((1, 100.0)), 1, 1)

    def fail_halfway(con):
        con.execute("INSERT INTO price_candles (day, symbol, close) VALUES (DATE '2026-11-05', 'BTC', 1.0)")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, [PRICE_CANDLES], fail_halfway)

    assert closes(path) == [100.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026.duckdb"]


def test_process_killed_mid_write_leaves_old_file_and_a_temp_file(tmp_path):
    path = tmp_path / "2026.duckdb"
    write_candles(path, candles((1, 100.0)), 1, 1)
    script = textwrap.dedent(
        f"""
        import os, pathlib
        from funding_pipeline.lib.storage.files import write_atomic
        from funding_pipeline.lib.storage.schemas import PRICE_CANDLES
        def crash(con):
            con.execute("INSERT INTO price_candles (day, symbol, close) VALUES (DATE '2026-11-05', 'BTC', 1.0)")
            os._exit(9)
        write_atomic(pathlib.Path({str(path)!r}), [PRICE_CANDLES], crash)
        """
    )

    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9

    assert closes(path) == [100.0]
    leftovers = [p.name for p in tmp_path.iterdir() if layout.TMP_MARK in p.name]
    assert leftovers and all(n.startswith(".2026.duckdb.tmp-") for n in leftovers)


def test_schema_version_mismatch_is_refused_on_read(tmp_path):
    path = layout.candles_path(tmp_path / "warehouse", DAY1)
    write_candles(path, candles((1, 100.0)), 1, 1)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE _meta SET schema_version = 99 WHERE table_name = 'price_candles'")

    with pytest.raises(SchemaVersionError, match="price_candles has schema version 99, this code reads version 1"):
        warehouse.connect(tmp_path)


def test_chunk_writer_appends_closes_and_never_reopens(tmp_path):
    start = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    final = layout.chunk_path(tmp_path, start)
    from funding_pipeline.lib.polling import PollOutcome
    from funding_pipeline.lib.snapshots import polls_table, snapshots_table

    outcome = PollOutcome("hyperliquid", start, ok=True)
    writer = ChunkWriter(final)
    writer.append(snapshots_table([outcome]), polls_table([outcome], 3.0))
    writer.abandon()  # a crash: the open chunk stays for the relaunch

    resumed = ChunkWriter(final)
    assert resumed.slots() == {start}
    resumed.close()

    assert final.exists() and not layout.open_chunk_path(tmp_path, start).exists()
    with pytest.raises(FileExistsError, match="closed chunks are never rewritten"):
        ChunkWriter(final)


def test_resuming_an_open_chunk_of_another_schema_version_is_refused(tmp_path):
    start = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    final = layout.chunk_path(tmp_path, start)
    ChunkWriter(final).abandon()
    with duckdb.connect(str(layout.open_chunk_path(tmp_path, start))) as con:
        con.execute("UPDATE _meta SET schema_version = 0 WHERE table_name = 'market_snapshots'")

    with pytest.raises(SchemaVersionError, match="market_snapshots has schema version 0"):
        ChunkWriter(final)
    with duckdb.connect(str(layout.open_chunk_path(tmp_path, start))) as con:  # not relabelled
        assert con.execute("SELECT schema_version FROM _meta WHERE table_name = 'market_snapshots'").fetchone() == (0,)


def test_attach_all_checks_every_version_and_names_the_bad_file(tmp_path):
    good, bad = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    write_candles(good, candles((1, 100.0)), 1, 1)
    write_candles(bad, candles((2, 101.0)), 2, 2)
    with duckdb.connect(str(bad)) as con:
        con.execute("UPDATE _meta SET schema_version = 7 WHERE table_name = 'price_candles'")

    with duckdb.connect() as con:
        union = attach_all(con, PRICE_CANDLES, [good], "g")
        assert con.execute(f"SELECT close FROM ({union})").fetchall() == [(100.0,)]
        with pytest.raises(SchemaVersionError, match=r"b\.duckdb: price_candles has schema version 7"):
            attach_all(con, PRICE_CANDLES, [good, bad], "x")
        assert con.execute(f"SELECT count(*) FROM ({attach_all(con, PRICE_CANDLES, [], 'e')})").fetchone() == (0,)


def test_write_atomic_leaves_nothing_attached(tmp_path):
    from funding_pipeline.lib.storage import files

    source = tmp_path / "src.duckdb"
    write_candles(source, candles((1, 100.0)), 1, 1)

    def fill(con):
        union = attach_all(con, PRICE_CANDLES, [source], "s")
        con.execute(f"INSERT INTO price_candles SELECT * FROM ({union})")

    write_atomic(tmp_path / "copy.duckdb", [PRICE_CANDLES], fill, threads=1)

    assert closes(tmp_path / "copy.duckdb") == [100.0]
    names = files._writer_instance().execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal")
    assert names.fetchall() == [("memory",)]


def test_small_files_have_small_blocks_and_plain_strings_only_where_asked(tmp_path):
    """The writer instance is shared: a small file's settings must not leak into the next write."""
    many = candles(*((d, 100.0 + d) for d in range(1, 29)))
    many = many.set_column(1, "symbol", pa.array([f"SYM{d % 4}" for d in range(28)]))

    def fill(con):
        insert_arrow(con, PRICE_CANDLES, many)

    def compression(path) -> set[str]:
        with connect(path, read_only=True) as con:
            sql = (
                "SELECT DISTINCT compression FROM pragma_storage_info('price_candles') "
                "WHERE column_name = 'symbol' AND segment_type = 'VARCHAR'"
            )
            return {r[0] for r in con.execute(sql).fetchall()}

    def block_size(path) -> int:
        with connect(path, read_only=True) as con:
            return con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]

    write_atomic(tmp_path / "plain.duckdb", [PRICE_CANDLES], fill, small=True)
    write_atomic(tmp_path / "packed.duckdb", [PRICE_CANDLES], fill)

    assert compression(tmp_path / "plain.duckdb") == {"Uncompressed"}
    assert compression(tmp_path / "packed.duckdb") == {"Dictionary"}
    assert (block_size(tmp_path / "plain.duckdb"), block_size(tmp_path / "packed.duckdb")) == (65536, 262144)
    assert closes(tmp_path / "plain.duckdb") == closes(tmp_path / "packed.duckdb") == [100.0 + d for d in range(1, 29)]


@pytest.mark.parametrize(
    ("relative", "end"),
    [
        ("2026-11-23/10/55.duckdb", datetime(2026, 11, 23, 11, 0, tzinfo=UTC)),
        ("2026-11-23/23/55.duckdb", datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),
        ("2026-11-23.duckdb", datetime(2026, 11, 24, tzinfo=UTC)),
        ("hyperliquid/2026-11.duckdb", datetime(2026, 12, 1, tzinfo=UTC)),
        ("okx/2026-12.duckdb", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026.duckdb", datetime(2027, 1, 1, tzinfo=UTC)),
        ("latest.duckdb", None),
    ],
)
def test_period_end_of_each_file_kind(relative, end):
    assert layout.period_end(relative) == end


def test_files_since_keep_what_ends_after_it(tmp_path):
    wh = tmp_path / "warehouse"
    for day in (1, 2, 3):
        write_candles(
            layout.stats_1h_path(wh, datetime(2026, 11, day, tzinfo=UTC).date()), candles((day, 1.0)), day, day
        )
    kind = layout.kind_of_table("market_stats_1h")

    names = [p.name for p in kind.files(wh, since=datetime(2026, 11, 2, 0, 0, tzinfo=UTC))]

    assert names == ["2026-11-02.duckdb", "2026-11-03.duckdb"]
    assert [p.name for p in kind.files(wh)] == ["2026-11-01.duckdb", *names]
