import logging
from datetime import UTC, datetime, timedelta

import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib.clock import SimulatedClock, WallClock
from funding_pipeline.lib.collector import PastHourError, run_collect_hour
from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.polling import replay_transports
from funding_pipeline.lib.settings import BUNDLED_RECORDINGS

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
LOG = logging.getLogger("test")


def collect(root, transports=None, clock=None):
    return run_collect_hour(
        HOUR,
        warehouse=root / "warehouse",
        exchanges=[hyperliquid.EXCHANGES[0]],
        transports=transports or replay_transports(BUNDLED_RECORDINGS),
        clock=clock or SimulatedClock(HOUR),
        log=LOG,
    )


class LateLiveClock(SimulatedClock):
    """A live run that starts 20 minutes into its hour (slots still advance without sleeping)."""

    simulated = False


def test_crashed_run_resumes_without_rewriting_closed_chunks(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        collect(tmp_path, transports=crash_at(104))
    closed_before = {p: p.stat().st_mtime_ns for p in (tmp_path / "warehouse").rglob("*.duckdb")}

    report = collect(tmp_path)

    assert report.chunks_kept == 5  # slots 0..99 = chunks 10:00..10:20
    assert report.slots_resumed == 4  # slots 100..103 were in the open chunk 10:25
    assert report.slots_polled == 136
    for path, mtime in closed_before.items():
        if "market_snapshots" in path.parts:
            assert path.stat().st_mtime_ns == mtime
    con = warehouse.connect(tmp_path)
    assert con.execute("SELECT count(*), count(DISTINCT (observed_at, symbol)) FROM market_snapshots").fetchone() == (
        720,
        720,
    )
    assert con.execute("SELECT sum(samples) FROM market_stats_1m").fetchone()[0] == 720


def test_rerun_of_a_finished_hour_changes_nothing(tmp_path):
    collect(tmp_path)
    con = warehouse.connect(tmp_path)
    before = con.execute("SELECT * FROM market_stats_1m ORDER BY ALL").fetchall()

    report = collect(tmp_path)

    assert (report.chunks_kept, report.slots_polled) == (12, 0)
    assert warehouse.connect(tmp_path).execute("SELECT * FROM market_stats_1m ORDER BY ALL").fetchall() == before


def test_late_live_start_leaves_gaps_not_rows(tmp_path):
    report = collect(tmp_path, clock=LateLiveClock(HOUR + timedelta(minutes=20)))

    con = warehouse.connect(tmp_path)
    first = con.execute("SELECT min(slot_at), count(*) FROM tracker_polls").fetchone()
    assert first == (HOUR + timedelta(minutes=20), 160)
    assert report.slots_polled == 160


def test_live_run_for_a_past_hour_fails_clearly(tmp_path):
    with pytest.raises(PastHourError, match="live collection cannot collect the past hour 2026-11-23 10:00 UTC"):
        collect(tmp_path, clock=WallClock())


def crash_at(slot_index):
    """Replay transports that kill the run when slot `slot_index` of the hour is polled."""
    replay = replay_transports(BUNDLED_RECORDINGS)

    def transports(exchange_id, poll_number):
        if poll_number == int(HOUR.timestamp()) // 15 + slot_index:
            raise KeyboardInterrupt("killed")
        return replay(exchange_id, poll_number)

    return transports


def test_relaunch_after_the_hour_closes_the_stranded_chunk_then_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        collect(tmp_path, transports=crash_at(236))
    snapshots = tmp_path / "warehouse" / "market_snapshots" / "2026-11-23" / "10"
    assert sorted(p.name for p in snapshots.iterdir())[-2:] == ["50.duckdb", "55.duckdb.open"]

    with pytest.raises(PastHourError) as failed:
        collect(tmp_path, clock=WallClock())

    assert str(failed.value) == (
        "live collection cannot collect the past hour 2026-11-23 10:00 UTC; closed the open chunk(s) 10:55 "
        "left by an earlier attempt; use FUNDING_SOURCE=replay with FUNDING_CLOCK=simulated to build history"
    )
    assert not list(snapshots.glob("*.open"))
    con = warehouse.connect(tmp_path)
    assert con.execute("SELECT count(*), max(observed_at) FROM market_snapshots").fetchone() == (
        708,
        HOUR + timedelta(minutes=58, seconds=45),
    )
    assert con.execute("SELECT count(*), max(slot_at) FROM tracker_polls").fetchone() == (
        236,
        HOUR + timedelta(minutes=58, seconds=45),
    )
    last_chunk = con.execute(
        "SELECT count(*), sum(samples), min(bucket_start), max(bucket_start) FROM market_stats_1m "
        "WHERE bucket_start >= ?",
        [HOUR + timedelta(minutes=55)],
    ).fetchone()
    assert last_chunk == (12, 48, HOUR + timedelta(minutes=55), HOUR + timedelta(minutes=58))
    assert con.execute("SELECT sum(samples) FROM market_stats_1m").fetchone()[0] == 708


def test_past_hour_without_open_chunks_fails_without_touching_files(tmp_path):
    collect(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "warehouse").rglob("*.duckdb")}

    with pytest.raises(PastHourError, match=r"10:00 UTC; use FUNDING_SOURCE=replay"):
        collect(tmp_path, clock=WallClock())

    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "warehouse").rglob("*.duckdb")} == before
