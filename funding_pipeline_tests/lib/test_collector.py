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
    replay = replay_transports(BUNDLED_RECORDINGS)

    def crash_at_slot_104(exchange_id, poll_number):
        if poll_number == int(HOUR.timestamp()) // 15 + 104:
            raise KeyboardInterrupt("killed")
        return replay(exchange_id, poll_number)

    with pytest.raises(KeyboardInterrupt):
        collect(tmp_path, transports=crash_at_slot_104)
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
