import json
import shutil

import duckdb
import pytest

from funding_pipeline.cli import main
from funding_pipeline.lib.storage.schemas import TABLES


@pytest.fixture
def root(collected_root, monkeypatch):
    monkeypatch.setenv("FUNDING_DATA_DIR", str(collected_root))
    for name in ("FUNDING_SOURCE", "FUNDING_CLOCK", "FUNDING_EXCHANGES"):
        monkeypatch.delenv(name, raising=False)
    return collected_root


def test_sql_prints_a_table(root, capsys):
    code = main(["sql", "SELECT exchange, count(*) AS n FROM market_snapshots GROUP BY 1"])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split() == ["exchange", "|", "n"]
    assert out[2].split() == ["hyperliquid", "|", "720"]
    assert out[-1] == "(1 row)"


def test_sql_json_format(root, capsys):
    main(["sql", "SELECT symbol FROM market_snapshots GROUP BY 1 ORDER BY 1", "--format", "json"])

    out = capsys.readouterr().out
    assert json.loads(out[: out.rindex("]") + 1]) == [{"symbol": "BTC"}, {"symbol": "ETH"}, {"symbol": "HPOS"}]


def test_bad_sql_exits_nonzero_with_duckdb_error(root, capsys):
    code = main(["sql", "SELECT nope FROM market_snapshots"])

    assert code == 2
    assert 'Referenced column "nope" not found' in capsys.readouterr().err


def test_doctor_clean_root(root, capsys):
    assert main(["doctor"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_doctor_finds_stray_foreign_temp_and_version_problems(root, capsys):
    warehouse = root / "warehouse"
    duckdb.connect(str(warehouse / "market_snapshots" / "copy.duckdb")).close()
    duckdb.connect(str(root / "old_tracker.duckdb")).close()
    (warehouse / "market_stats_1m" / ".10.duckdb.tmp-abc").write_bytes(b"x")
    m1 = next((warehouse / "market_stats_1m").rglob("10.duckdb"))
    with duckdb.connect(str(m1)) as con:
        con.execute("UPDATE _meta SET schema_version = 7")
    (warehouse / "price_candles").mkdir()
    (warehouse / "price_candles" / "2026.duckdb").write_bytes(b"not a database")

    code = main(["doctor"])

    out = capsys.readouterr().out
    assert code == 1
    assert "stray DuckDB file" in out and "copy.duckdb" in out
    assert "foreign DuckDB file" in out and "old_tracker.duckdb" in out
    assert "leftover temp file" in out
    assert "market_stats_1m schema version 7, code expects 1" in out
    assert "2026.duckdb: cannot be opened read-only" in out
    assert "5 problem(s) found" in out


def test_backup_restore_round_trip(root, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "backup"
    assert main(["backup", str(dest)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert len(manifest["files"]) == 24  # 12 chunks + 12 one-minute files

    fresh = tmp_path / "fresh"
    monkeypatch.setenv("FUNDING_DATA_DIR", str(fresh))
    assert main(["restore", str(dest)]) == 0
    assert "restored 24 file(s)" in capsys.readouterr().out
    capsys.readouterr()
    main(["sql", "SELECT count(*) AS n FROM market_snapshots"])
    assert "720" in capsys.readouterr().out


def test_restore_refuses_non_empty_root_and_damaged_backup(root, tmp_path, capsys):
    dest = tmp_path / "backup"
    main(["backup", str(dest)])

    assert main(["restore", str(dest)]) == 2
    assert "already holds 24 file(s); pass --overwrite" in capsys.readouterr().err

    victim = next((dest / "warehouse").rglob("*.duckdb"))
    victim.write_bytes(victim.read_bytes() + b"!")
    shutil.rmtree(root / "warehouse")
    assert main(["restore", str(dest)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (root / "warehouse").exists()  # nothing restored before every checksum passed


def test_sql_table_separator_lines_up_with_the_columns(root, capsys):
    main(["sql", "SELECT exchange, count(*) AS n FROM market_snapshots GROUP BY 1"])

    header, line, row, _ = capsys.readouterr().out.splitlines()
    assert [i for i, c in enumerate(header) if c == "|"] == [i for i, c in enumerate(line) if c == "+"]
    assert [i for i, c in enumerate(row) if c == "|"] == [i for i, c in enumerate(line) if c == "+"]


def test_sql_naming_no_table_sees_every_view(root, capsys):
    assert main(["sql", "SELECT count(*) AS views FROM duckdb_views() WHERE NOT internal"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == [str(len(TABLES))]


def test_doctor_on_an_empty_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path / "nothing_yet"))

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "checked 0 DuckDB file(s)" in out and "no problems found" in out


def test_cli_rejects_unknown_exchanges_and_a_data_root_that_is_a_file(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUNDING_EXCHANGES", "ftx")
    assert main(["doctor"]) == 2
    assert "FUNDING_EXCHANGES names unknown exchange(s) ftx" in capsys.readouterr().err

    monkeypatch.delenv("FUNDING_EXCHANGES")
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path / "afile"))
    assert main(["doctor"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_restore_counts_open_chunks_and_strays_as_a_non_empty_root(root, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "backup"
    main(["backup", str(dest)])
    other = tmp_path / "other"
    (other / "warehouse" / "market_snapshots" / "2026-11-23" / "11").mkdir(parents=True)
    (other / "warehouse" / "market_snapshots" / "2026-11-23" / "11" / "00.duckdb.open").write_bytes(b"x")
    monkeypatch.setenv("FUNDING_DATA_DIR", str(other))

    assert main(["restore", str(dest)]) == 2
    assert "already holds 1 file(s)" in capsys.readouterr().err
    assert not (other / "warehouse" / "market_snapshots" / "2026-11-23" / "11" / "00.duckdb").exists()


@pytest.mark.parametrize("bad", ["../escaped.duckdb", "market_snapshots/copy.duckdb", "/abs/x.duckdb"])
def test_restore_refuses_a_manifest_path_outside_the_layout(root, tmp_path, monkeypatch, capsys, bad):
    dest = tmp_path / "backup"
    main(["backup", str(dest)])
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["files"][0]["path"] = bad
    (dest / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path / "fresh"))

    assert main(["restore", str(dest)]) == 2
    assert f"manifest entry {bad!r} is not a warehouse file of the layout" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "escaped.duckdb").exists()


def test_sql_since_attaches_only_later_files(tmp_path, monkeypatch, capsys):
    from datetime import timedelta

    from funding_pipeline_tests.handbuilt import HOUR, build_chunk

    build_chunk(tmp_path / "warehouse", HOUR, range(6))  # 10:00, 6 slots
    build_chunk(tmp_path / "warehouse", HOUR + timedelta(hours=2), range(4))  # 12:00, 4 slots
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path))
    query = "SELECT count(DISTINCT observed_at) AS n FROM market_snapshots"

    for since, slots in ((None, 10), ("2026-11-23T10:05", 4), ("2026-11-23T10:04:59", 10), ("2026-11-23", 10)):
        main(["sql", query, "--format", "csv"] + (["--since", since] if since else []))
        assert capsys.readouterr().out.splitlines()[1] == str(slots), since


def test_since_is_an_age_or_an_iso_time():
    from datetime import UTC, datetime, timedelta, timezone

    from funding_pipeline.cli import since_time

    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert since_time("90m", now) == now - timedelta(minutes=90)
    assert since_time("6h", now) == datetime(2026, 11, 23, 6, tzinfo=UTC)
    assert since_time("2d", now) == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert since_time("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert since_time("2026-11-30T12:00+02:00") == datetime(2026, 11, 30, 12, tzinfo=timezone(timedelta(hours=2)))
    with pytest.raises(Exception, match="give an age such as 90m"):
        since_time("soon")


def test_sql_hints_at_since_when_it_attaches_many_files(tmp_path, monkeypatch, capsys):
    from datetime import timedelta

    from funding_pipeline import cli
    from funding_pipeline_tests.handbuilt import HOUR, build_chunk

    build_chunk(tmp_path / "warehouse", HOUR, range(2))
    build_chunk(tmp_path / "warehouse", HOUR + timedelta(minutes=5), range(20, 22))
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "SLOW_ATTACH_FILES", 2)

    main(["sql", "SELECT count(*) FROM market_snapshots"])
    assert "(attached 2 files in " in capsys.readouterr().err
    main(["sql", "SELECT count(*) FROM market_snapshots", "--since", "2026-11-23T10:05"])
    assert capsys.readouterr().err == ""
