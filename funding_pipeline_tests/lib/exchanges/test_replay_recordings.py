"""Every registered venue polls its bundled recordings through the real `poll` + replay transport."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

import funding_pipeline
from funding_pipeline.lib.exchanges import MODULES, all_exchanges
from funding_pipeline.lib.polling import poll_exchange, replay_transports

RECORDINGS = Path(funding_pipeline.__file__).parent / "recordings"
SLOT = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
IDS = sorted(all_exchanges())


@pytest.mark.parametrize("exchange_id", IDS)
@pytest.mark.parametrize("poll_number", [0, 1, 23])
def test_bundled_recording_polls_cleanly(exchange_id, poll_number):
    exchange = all_exchanges()[exchange_id]
    transport = replay_transports(RECORDINGS)(exchange_id, poll_number)

    outcome = asyncio.run(poll_exchange(exchange, SLOT, transport=transport))

    assert outcome.error is None
    assert outcome.ok
    assert len(outcome.rows) >= 2
    assert outcome.rejected == []
    assert {r.exchange for r in outcome.rows} == {exchange_id}


def test_every_module_registered_with_fixtures_and_tests():
    tests = Path(__file__).parent
    fixtures = tests.parents[1] / "fixtures"
    for name in MODULES:
        assert (tests / f"test_{name}.py").is_file(), name
        assert any((fixtures / name).glob("*.json")), name
