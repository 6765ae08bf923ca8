import dagster as dg
import pytest

from funding_pipeline.definitions import defs


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


@pytest.fixture
def ops_env(monkeypatch, collected_root):
    """Settings pointing at a private copy of the collected hour, replayed with the simulated clock."""
    monkeypatch.setenv("FUNDING_DATA_DIR", str(collected_root))
    monkeypatch.setenv("FUNDING_SOURCE", "replay")
    monkeypatch.setenv("FUNDING_CLOCK", "simulated")
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid")
    for name in (
        "FUNDING_REPLAY_DIR",
        "FUNDING_ALERT_WEBHOOK",
        "FUNDING_RETENTION_RAW_DAYS",
        "FUNDING_RETENTION_1M_DAYS",
        "FUNDING_RETENTION_1H_DAYS",
        "FUNDING_RETENTION_RUNS_DAYS",
        "FUNDING_ALERT_MIN_SHARE",
        "FUNDING_ALERT_SILENT_SLOTS",
        "FUNDING_ALERT_STALL_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    return collected_root


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
