"""tokens_job as the 5-minute schedule starts it: empty run config, settings from the variables."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from funding_pipeline import warehouse
from funding_pipeline.definitions import defs
from funding_pipeline_tests.handbuilt import HOUR, build_chunk

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def scheduled_run(definitions, instance, run_config: dict | None = None):
    schedule = definitions.resolve_schedule_def("tokens_every_5_minutes")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 10, 6, tzinfo=UTC))
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.run_config == {}
    config = {**QUIET, **request.run_config, **(run_config or {})}
    return definitions.resolve_job_def("tokens_job").execute_in_process(run_config=config, instance=instance)


def arbitrage_metadata(result) -> dict:
    (event,) = result.asset_materializations_for_node("funding_arbitrage")
    return {k: v.value for k, v in event.metadata.items() if k in ("default_taker_fee", "taker_fees", "holding_days")}


def test_scheduled_runs_take_the_arbitrage_settings_from_the_variables(data_env, definitions, monkeypatch):
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,binance")
    monkeypatch.setenv("FUNDING_ARB_TAKER_FEES", "binance=0.0002")
    monkeypatch.setenv("FUNDING_ARB_HOLDING_DAYS", "14")
    build_chunk(data_env / "warehouse", HOUR, range(6))

    with dg.DagsterInstance.ephemeral() as instance:
        result = scheduled_run(definitions, instance)

    assert arbitrage_metadata(result) == {
        "default_taker_fee": 0.0005,
        "taker_fees": {"binance": 0.0002},
        "holding_days": 14.0,
    }
    net = warehouse.connect(data_env).execute("SELECT net_spread_apr FROM funding_arbitrage WHERE base_asset = 'BTC'")
    # 0.5256 - 0.1095 - 2 x (0.0002 + 0.0005) x 365 / 14
    assert net.fetchone()[0] == pytest.approx(0.4161 - 0.0365)
    weights = warehouse.connect(data_env).execute("SELECT count(*) FROM cross_exchange_weights").fetchone()[0]
    assert weights == 4


def test_run_config_wins_over_the_variables(data_env, definitions, monkeypatch):
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,binance")
    monkeypatch.setenv("FUNDING_ARB_HOLDING_DAYS", "14")
    build_chunk(data_env / "warehouse", HOUR, range(6))
    config = {"ops": {"funding_arbitrage": {"config": {"holding_days": 365, "default_taker_fee": 0.001}}}}

    with dg.DagsterInstance.ephemeral() as instance:
        result = scheduled_run(definitions, instance, config)

    assert arbitrage_metadata(result) == {"default_taker_fee": 0.001, "taker_fees": {}, "holding_days": 365.0}


def test_an_invalid_variable_fails_the_run_naming_it(data_env, definitions, monkeypatch):
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,binance")
    monkeypatch.setenv("FUNDING_ARB_TAKER_FEE", "5")  # percent meant as a decimal
    build_chunk(data_env / "warehouse", HOUR, range(6))
    job = definitions.resolve_job_def("tokens_job")

    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(run_config=QUIET, instance=instance, raise_on_error=False)

    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "funding_arbitrage"
    message = "FUNDING_ARB_TAKER_FEE='5': a taker fee is a decimal per trade, at most 0.01"
    assert message in failure.event_specific_data.error.message
