"""market_stats_1h through Dagster: a range backfill over an hour without 1-minute files."""

from datetime import timedelta

import dagster as dg
import pytest

from funding_pipeline import warehouse
from funding_pipeline.definitions import defs
from funding_pipeline_tests.handbuilt import HOUR, build_chunk

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


@pytest.fixture
def two_hours(data_env):
    """1-minute files for 10:00 and 12:00 (one chunk of 6 slots each); 11:00 was never collected."""
    wh = data_env / "warehouse"
    build_chunk(wh, HOUR, range(6))
    build_chunk(wh, HOUR + timedelta(hours=2), range(6))
    return data_env


def backfill(definitions, instance, start: str, end: str):
    return definitions.resolve_job_def("stats_1h_job").execute_in_process(
        run_config=QUIET,
        instance=instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )


def metadata(result) -> dict:
    (event,) = result.asset_materializations_for_node("market_stats_1h")[:1]
    return {k: v.value for k, v in event.metadata.items()}


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_range_backfill_skips_an_empty_hour_and_its_checks_pass(two_hours, definitions):
    with dg.DagsterInstance.ephemeral() as instance:
        result = backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-12:00")

        assert result.success
        meta = metadata(result)
        assert (meta["hours"], meta["hours_written"], meta["empty_hours"]) == (3, 2, ["2026-11-23-11:00"])
        assert meta["files"] == [str(two_hours / "warehouse" / "market_stats_1h" / "2026-11-23.duckdb")]
        assert check_results(result) == {"samples_match_1m": True, "buckets_in_partition": True}
        assert instance.get_materialized_partitions(dg.AssetKey("market_stats_1h")) == {
            "2026-11-23-10:00",
            "2026-11-23-11:00",
            "2026-11-23-12:00",
        }
    rows = (
        warehouse.connect(two_hours)
        .execute("SELECT hour(bucket_start), count(*), sum(samples) FROM market_stats_1h GROUP BY 1 ORDER BY 1")
        .fetchall()
    )
    assert rows == [(10, 5, 30), (12, 5, 30)]  # 5 markets x 6 slots per collected hour


def test_an_hour_alone_without_1m_files_fails_with_a_clear_message(two_hours, definitions):
    with dg.DagsterInstance.ephemeral() as instance:
        result = backfill(definitions, instance, "2026-11-23-11:00", "2026-11-23-11:00")

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no 1-minute aggregates for 2026-11-23-11:00" in failure.event_specific_data.error.message
