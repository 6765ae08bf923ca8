import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from funding_pipeline.lib.clock import SimulatedClock
from funding_pipeline.lib.collector import run_collect_hour
from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.polling import replay_transports
from funding_pipeline.lib.settings import BUNDLED_RECORDINGS

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture(scope="session")
def _collected_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collected")
    run_collect_hour(
        HOUR,
        warehouse=root / "warehouse",
        exchanges=[hyperliquid.EXCHANGES[0]],
        transports=replay_transports(BUNDLED_RECORDINGS),
        clock=SimulatedClock(HOUR),
        log=logging.getLogger("test"),
    )
    return root


@pytest.fixture
def collected_root(_collected_root, tmp_path) -> Path:
    """A data root holding one replayed hour of Hyperliquid (3 markets x 240 slots); a private copy."""
    root = tmp_path / "root"
    shutil.copytree(_collected_root, root)
    return root


@pytest.fixture
def data_env(monkeypatch, tmp_path):
    """Point the settings at a fresh data root; returns it."""
    root = tmp_path / "data"
    monkeypatch.setenv("FUNDING_DATA_DIR", str(root))
    for name in ("FUNDING_SOURCE", "FUNDING_CLOCK", "FUNDING_EXCHANGES", "FUNDING_REPLAY_DIR"):
        monkeypatch.delenv(name, raising=False)
    return root
