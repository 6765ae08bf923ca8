"""The history domain through Dagster: definitions, schedules, and the real assets materialized
against generated cassettes for a fixed day."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from funding_pipeline import warehouse
from funding_pipeline.definitions import defs
from funding_pipeline.defs.history import assets, checks, resources
from funding_pipeline.defs.history.partitions import DERIVED_EXCHANGES, ENDPOINT_EXCHANGES, HISTORY_PARTITIONS
from funding_pipeline.lib import recordings

WINDOW = (datetime(2026, 5, 19, 22, tzinfo=UTC), datetime(2026, 5, 20, 12, tzinfo=UTC))  # two day partitions
DAY = "2026-05-20"
HISTORY_CHECKS = [checks.no_duplicate_prints, checks.rates_within_cap, checks.no_gaps_beyond_two_intervals]
MA_CHECKS = [checks.invalid_below_coverage, checks.ma_values_finite, checks.arbitrage_ma_legs_differ]
CANDLE_CHECKS = [checks.no_duplicate_candles, checks.candles_consistent]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("replay")
    recordings.prepare_replay_dir(folder, *WINDOW)
    return folder


@pytest.fixture
def history_env(monkeypatch, tmp_path, replay_dir) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("FUNDING_DATA_DIR", str(root))
    monkeypatch.setenv("FUNDING_SOURCE", "replay")
    monkeypatch.setenv("FUNDING_CLOCK", "simulated")
    monkeypatch.setenv("FUNDING_REPLAY_DIR", str(replay_dir))
    monkeypatch.delenv("FUNDING_EXCHANGES", raising=False)
    return root


def _materialize(selection, instance, partition_key=None, run_config=None, resources_=None):
    return dg.materialize(
        selection,
        instance=instance,
        partition_key=partition_key,
        run_config={**QUIET, **(run_config or {})},
        resources=resources_ or {},
        raise_on_error=False,
    )


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_history_assets_partitions_checks_and_group(definitions):
    graph = definitions.resolve_asset_graph()
    for name in (
        "funding_rate_history",
        "funding_rate_ma",
        "accumulated_funding",
        "funding_arbitrage_ma",
        "price_candles",
    ):
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "history", name
        assert node.pools, name
    partitions = graph.get(dg.AssetKey("funding_rate_history")).partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert set(partitions.partition_dimension_names) == {"date", "exchange"}
    assert DERIVED_EXCHANGES == ["variational"]
    assert len(ENDPOINT_EXCHANGES) == 20
    blocking = {
        (k.asset_key.to_user_string(), k.name): graph.get_check_spec(k).blocking for k in graph.asset_check_keys
    }
    assert blocking["funding_rate_history", checks.NO_DUPLICATE_PRINTS]
    assert blocking["funding_rate_history", checks.RATES_WITHIN_CAP]
    assert not blocking["funding_rate_history", checks.NO_GAPS]
    assert blocking["funding_rate_ma", checks.INVALID_BELOW_COVERAGE]


def test_daily_schedules_ask_for_the_day_that_closed(definitions):
    tick = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 5, 21, 0, 20, tzinfo=UTC),
        repository_def=definitions.get_repository_def(),
    )

    history_requests = definitions.get_schedule_def("funding_history_daily").evaluate_tick(tick).run_requests
    (candles_request,) = definitions.get_schedule_def("price_candles_daily").evaluate_tick(tick).run_requests

    assert sorted(r.partition_key for r in history_requests) == sorted(
        f"2026-05-20|{e}" for e in ENDPOINT_EXCHANGES + DERIVED_EXCHANGES
    )
    assert candles_request.partition_key == "2026-05-20"
    ma = definitions.get_schedule_def("funding_ma_hourly")
    assert (ma.cron_schedule, ma.default_status) == ("15 * * * *", dg.DefaultScheduleStatus.RUNNING)


def test_history_partition_from_cassettes_is_idempotent(history_env):
    instance = dg.DagsterInstance.ephemeral()
    key = f"{DAY}|okx"

    first = _materialize([assets.funding_rate_history, *HISTORY_CHECKS], instance, key)
    with warehouse.connect(history_env, tables=["funding_rate_history"]) as con:
        once = con.execute("SELECT * FROM funding_rate_history ORDER BY symbol, funding_time").fetchall()
    again = _materialize([assets.funding_rate_history, *HISTORY_CHECKS], instance, key)
    with warehouse.connect(history_env, tables=["funding_rate_history"]) as con:
        twice = con.execute("SELECT * FROM funding_rate_history ORDER BY symbol, funding_time").fetchall()

    assert first.success and again.success
    assert _checks(first) == {checks.NO_DUPLICATE_PRINTS: True, checks.RATES_WITHIN_CAP: True, checks.NO_GAPS: True}
    assert once == twice and len(once) > 0
    assert {r[1] for r in once} == {"okx"}
    (materialization,) = first.asset_materializations_for_node("funding_rate_history")
    assert materialization.metadata["dagster/row_count"].value == len(once)


def test_a_venue_without_an_endpoint_derives_its_day_from_snapshots(history_env):
    result = _materialize([assets.funding_rate_history], dg.DagsterInstance.ephemeral(), f"{DAY}|variational")

    assert result.success
    (materialization,) = result.asset_materializations_for_node("funding_rate_history")
    assert materialization.metadata["partitions"].value == {
        f"{DAY}|variational": {"rows": 0, "symbols": 0, "source": "snapshots"}
    }


def test_single_run_backfill_of_one_venue_over_two_days(definitions, history_env):
    job = definitions.resolve_job_def("funding_history_job")
    tags = {
        "dagster/asset_partition_range_start": "2026-05-19|okx",
        "dagster/asset_partition_range_end": "2026-05-20|okx",
    }

    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=tags, run_config=QUIET)

    assert result.success
    (materialization, *_) = result.asset_materializations_for_node("funding_rate_history")
    assert sorted(materialization.metadata["partitions"].value) == ["2026-05-19|okx", "2026-05-20|okx"]
    assert all(e.passed for e in result.get_asset_check_evaluations())
    with warehouse.connect(history_env, tables=["funding_rate_history"]) as con:
        days = con.execute("SELECT DISTINCT CAST(funding_time AS DATE) FROM funding_rate_history ORDER BY 1").fetchall()
    assert [str(d[0]) for d in days] == ["2026-05-19", "2026-05-20"]


def test_partition_keys_unpack_to_day_and_venue():
    keys = [dg.MultiPartitionKey({"date": "2026-05-19", "exchange": "okx"}), "2026-05-20|bybit"]

    pairs = assets.partition_days_and_venues([str(k) for k in keys])

    assert [(str(d), v) for d, v in pairs] == [("2026-05-19", "okx"), ("2026-05-20", "bybit")]
    assert HISTORY_PARTITIONS.has_partition_key("2026-05-19|okx")


def test_candles_day_from_cassettes(history_env):
    resource = resources.CryptoCompare()

    result = _materialize(
        [assets.price_candles, *CANDLE_CHECKS],
        dg.DagsterInstance.ephemeral(),
        DAY,
        resources_={"cryptocompare": resource},
    )

    assert result.success
    assert _checks(result) == {checks.NO_DUPLICATE_CANDLES: True, checks.CANDLES_CONSISTENT: True}
    with warehouse.connect(history_env, tables=["price_candles"]) as con:
        symbols = [r[0] for r in con.execute("SELECT symbol FROM price_candles ORDER BY 1").fetchall()]
    assert symbols == sorted(recordings.DEFAULT_SYMBOLS)


def test_moving_averages_accumulated_and_ranking_from_a_replayed_day(history_env):
    instance = dg.DagsterInstance.ephemeral()
    for venue in ("okx", "bybit", "binance", "hyperliquid"):
        assert _materialize([assets.funding_rate_history], instance, f"{DAY}|{venue}").success

    result = _materialize(
        [assets.funding_rate_ma, assets.accumulated_funding, assets.funding_arbitrage_ma, *MA_CHECKS],
        instance,
        run_config={"ops": {"funding_rate_ma": {"config": {"min_coverage": 0.9}}}},
    )

    assert result.success
    assert all(_checks(result).values()), _checks(result)
    (ma,) = result.asset_materializations_for_node("funding_rate_ma")
    # simulated clock: the windows end where the replayed data ends
    assert ma.metadata["as_of"].value == WINDOW[1].isoformat()
    assert ma.metadata["min_coverage"].value == 0.9
    with warehouse.connect(history_env) as con:
        exchanges = {r[0] for r in con.execute("SELECT DISTINCT exchange FROM funding_rate_ma").fetchall()}
        accumulated = con.execute("SELECT count(*) FROM accumulated_funding WHERE period = '1d'").fetchone()[0]
        bad = con.execute("SELECT count(*) FROM funding_rate_ma WHERE valid <> (coverage >= 0.9)").fetchone()[0]
    assert exchanges == {"okx", "bybit", "binance", "hyperliquid", "_all"}
    assert accumulated > 0 and bad == 0


def test_api_key_is_bound_from_the_environment_only_when_set(monkeypatch):
    monkeypatch.delenv(resources.API_KEY_ENV, raising=False)
    assert resources.defs().resources["cryptocompare"].api_key is None

    monkeypatch.setenv(resources.API_KEY_ENV, "k")
    bound = resources.defs().resources["cryptocompare"]

    assert isinstance(bound.api_key, dg.EnvVar)  # resolved at run time, never written into config
