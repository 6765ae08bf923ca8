"""Slot timing on a fake wall clock (virtual time): slots at HH:MM:00/15/30/45 with jitter
under 1 s, a run launched before its hour waits for HH:00:00, and a venue that never answers
costs its own poll only (the slot's budget), never the other venue's rows or the next slot."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib.collector import EarlyStartError, collect_hour
from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.polling import SLOT_BUDGET_S, replay_transports
from funding_pipeline.lib.settings import BUNDLED_RECORDINGS
from funding_pipeline_tests.virtual_time import FakeWallClock, run_virtual

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
GOOD, SLOW = hyperliquid.EXCHANGES[0], hyperliquid.EXCHANGES[1]  # hyperliquid, hyena
LOG = logging.getLogger("test.slot_timing")


class Hung(httpx.AsyncBaseTransport):
    """A server that accepts the request and never answers (sleeps far past every timeout)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        return httpx.Response(200, json=[])


def transports(slow: bool):
    replay = replay_transports(BUNDLED_RECORDINGS)

    def factory(exchange_id: str, poll_number: int) -> httpx.AsyncBaseTransport:
        return Hung() if slow and exchange_id == "hyena" else replay(exchange_id, poll_number)

    return factory


def collect(root, start: datetime, exchanges, slow=False):
    return run_virtual(
        collect_hour(
            HOUR,
            warehouse=root / "warehouse",
            exchanges=exchanges,
            transports=transports(slow),
            clock=FakeWallClock(start),
            log=LOG,
        )
    )


def test_run_launched_before_its_hour_polls_every_slot_on_the_grid(tmp_path):
    report = collect(tmp_path, HOUR - timedelta(seconds=57), [GOOD])  # launched at 09:59:00 + 3 s

    con = warehouse.connect(tmp_path)
    slots = [r[0] for r in con.execute("SELECT slot_at FROM tracker_polls ORDER BY slot_at").fetchall()]
    assert slots == [HOUR + timedelta(seconds=15 * i) for i in range(240)]
    assert con.execute("SELECT max(jitter_ms) < 1000, max(jitter_ms) FROM tracker_polls").fetchone() == (True, 0.0)
    assert con.execute("SELECT count(*), min(observed_at) FROM market_snapshots").fetchone() == (720, HOUR)
    assert (report.slots_polled, report.max_jitter_ms, len(report.chunks_closed)) == (240, 0.0, 12)


def test_run_launched_late_polls_from_the_next_slot_with_small_jitter(tmp_path):
    report = collect(tmp_path, HOUR + timedelta(minutes=55, seconds=3, milliseconds=500), [GOOD])

    con = warehouse.connect(tmp_path)
    first = con.execute("SELECT slot_at, jitter_ms FROM tracker_polls ORDER BY slot_at LIMIT 2").fetchall()
    # 10:55:00 is 3.5 s old (within the 5 s tolerance): polled at once, 3500 ms late; then on time
    assert first == [(HOUR + timedelta(minutes=55), 3500.0), (HOUR + timedelta(minutes=55, seconds=15), 0.0)]
    assert report.slots_polled == 20


def test_a_hung_venue_costs_neither_the_other_venues_rows_nor_the_next_slot(tmp_path):
    collect(tmp_path, HOUR - timedelta(seconds=57), [GOOD, SLOW], slow=True)

    con = warehouse.connect(tmp_path)
    polls = con.execute(
        "SELECT slot_at, exchange, ok, rows, latency_ms, jitter_ms, error FROM tracker_polls "
        "WHERE slot_at < ? ORDER BY slot_at, exchange",
        [HOUR + timedelta(seconds=75)],
    ).fetchall()
    hung = f"RequestTimeout: no answer within {SLOT_BUDGET_S:.0f}s"
    expected = []
    for i in range(4):  # then the circuit breaker opens for 60 s
        slot = HOUR + timedelta(seconds=15 * i)
        expected += [(slot, "hyena", False, 0, 12000.0, 0.0, hung), (slot, "hyperliquid", True, 3, 0.0, 0.0, None)]
    slot = HOUR + timedelta(seconds=60)
    expected += [
        (slot, "hyena", False, 0, 0.0, 0.0, "CircuitOpen: circuit open until 10:01:45 after 4 failures"),
        (slot, "hyperliquid", True, 3, 0.0, 0.0, None),
    ]
    assert polls == expected
    assert con.execute("SELECT max(jitter_ms) FROM tracker_polls").fetchone() == (0.0,)
    per_slot = con.execute(
        "SELECT count(DISTINCT observed_at), count(*) FROM market_snapshots WHERE exchange = 'hyperliquid'"
    ).fetchone()
    assert per_slot == (240, 720)


def test_a_run_launched_long_before_its_hour_is_refused(tmp_path):
    with pytest.raises(EarlyStartError, match="started at 09:50:00, more than 5 minutes before its hour"):
        collect(tmp_path, HOUR - timedelta(minutes=10), [GOOD])

    assert not (tmp_path / "warehouse").exists()
