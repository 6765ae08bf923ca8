"""Every registered venue polls its bundled recordings through the real `poll` + replay transport."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import pytest

import funding_pipeline
from funding_pipeline.lib.exchanges import MODULES, all_exchanges, fields
from funding_pipeline.lib.polling import poll_exchange, replay_transports

RECORDINGS = Path(funding_pipeline.__file__).parent / "recordings"
SLOT = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("poll_number", [0, 1, 23])
def test_bundled_recording_polls_cleanly(module, poll_number):
    for exchange in import_module(f"funding_pipeline.lib.exchanges.{module}").EXCHANGES:
        exchange_id = exchange.venue.id
        transport = replay_transports(RECORDINGS)(exchange_id, poll_number)

        outcome = asyncio.run(poll_exchange(exchange, SLOT, transport=transport))

        assert outcome.error is None, exchange_id
        assert len(outcome.rows) >= 2, exchange_id
        assert outcome.rejected == [], exchange_id
        assert {r.exchange for r in outcome.rows} == {exchange_id}


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("poll_number", [0, 11, 23])
def test_batched_fast_path_matches_per_market_path(module, poll_number, monkeypatch):
    # Same rows (digit for digit), rejections and skips with the column-wise fast path and without,
    # at three steps of the recordings (their values move between steps). The clean recordings
    # must take the fast path wherever a parser has one, or the comparison would prove nothing.
    paths = []

    def counted(fast, slow):
        if fields.FAST_PATH:
            try:
                result = fast()
            except fields._SLOW_ERRORS:
                paths.append("slow")
            else:
                paths.append("fast")
                return result
        return slow()

    for name in MODULES:
        loaded = import_module(f"funding_pipeline.lib.exchanges.{name}")
        if hasattr(loaded, "batched"):
            monkeypatch.setattr(loaded, "batched", counted)

    def poll_all(fast: bool) -> list:
        monkeypatch.setattr(fields, "FAST_PATH", fast)
        out = []
        for exchange in import_module(f"funding_pipeline.lib.exchanges.{module}").EXCHANGES:
            transport = replay_transports(RECORDINGS)(exchange.venue.id, poll_number)
            outcome = asyncio.run(poll_exchange(exchange, SLOT, transport=transport))
            out.append(([repr(r) for r in outcome.rows], [str(e) for e in outcome.rejected], outcome.skipped))
        return out

    assert poll_all(True) == poll_all(False)
    assert "slow" not in paths
    if module in ("binance", "aster", "bybit", "grvt", "hibachi", "lighter", "okx", "orderly", "pacifica", "paradex"):
        assert "fast" in paths


@pytest.mark.parametrize("module", MODULES)
def test_module_has_fixtures_and_golden_tests(module):
    tests = Path(__file__).parent
    fixtures = tests.parents[1] / "fixtures"
    assert (tests / f"test_{module}.py").is_file()
    assert (fixtures / module / "README.md").is_file()
    assert any((fixtures / module).glob("*.json"))


@pytest.mark.parametrize("exchange_id", ["binance", "aster"])
def test_bundled_recordings_carry_per_symbol_open_interest(exchange_id):
    # Replay has one answer per recorded perpetual and poll, all in one slot's share (< 108).
    exchange = all_exchanges()[exchange_id]
    transport = replay_transports(RECORDINGS)(exchange_id, 0)

    outcome = asyncio.run(poll_exchange(exchange, SLOT, transport=transport))

    assert outcome.rejected == []
    for row in outcome.rows:
        cassette = json.loads((RECORDINGS / exchange_id / f"openInterest.{row.symbol}.00.json").read_text())
        assert row.open_interest_base == Decimal(cassette["response"]["json"]["openInterest"]), row.symbol
        assert row.open_interest_usd == row.open_interest_base * row.mark_price
