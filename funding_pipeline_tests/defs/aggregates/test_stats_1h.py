"""market_stats_1h through Dagster: range backfills over an hour without 1-minute files, and the
sensor that requests each closed hour."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from funding_pipeline import warehouse
from funding_pipeline.definitions import defs
from funding_pipeline.defs.aggregates import sensors
from funding_pipeline.lib.storage import layout
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


def tick(definitions, instance, monkeypatch, now: str, cursor: str | None):
    """One evaluation of the hour-close sensor with the wall clock at `now` (UTC)."""
    monkeypatch.setattr(sensors, "wall_now", lambda: datetime.fromisoformat(now).replace(tzinfo=UTC))
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions) as context:
        result = definitions.resolve_sensor_def("stats_1h_when_hour_closes").evaluate_tick(context)
    return [(r.partition_key, r.run_key) for r in result.run_requests], result.cursor


def request(data_root, partition: str) -> tuple[str, str]:
    """What the sensor requests for an hour: its key, and a run key naming its 1-minute files."""
    hour = datetime.strptime(partition, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
    return partition, sensors.run_key(hour, layout.hour_signature(data_root / "warehouse", hour))


def collecting(instance, partition: str) -> str:
    """A collection run of `partition` still going (what the daemon shows while it closes chunks)."""
    run = dg.DagsterRun(
        job_name="collection_job",
        run_id=f"run-{partition}",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": partition},
    )
    instance.add_run(run)
    return run.run_id


def test_hour_close_race_never_loses_an_hour(two_hours, definitions, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        # Seconds before 11:00 the hour is still open: nothing, and the cursor does not move past it.
        assert tick(definitions, instance, monkeypatch, "2026-11-23T10:59:55", None) == ([], None)
        # Just after 11:00 the collection run of 10:00 is still closing its last chunk: wait.
        run_id = collecting(instance, "2026-11-23-10:00")
        assert tick(definitions, instance, monkeypatch, "2026-11-23T11:00:05", None) == ([], None)
        # The run has ended: the hour is requested once, keyed by the hour.
        instance.delete_run(run_id)
        requests, cursor = tick(definitions, instance, monkeypatch, "2026-11-23T11:00:35", None)
        assert (requests, cursor) == ([request(two_hours, "2026-11-23-10:00")], "2026-11-23-10:00")
        # Until its run has built it, a later tick asks again under the same run key (the daemon
        # drops a run key it has seen); once built from these files, not at all.
        assert tick(definitions, instance, monkeypatch, "2026-11-23T11:01:05", cursor) == (requests, cursor)
        assert backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-10:00").success
        assert tick(definitions, instance, monkeypatch, "2026-11-23T11:01:35", cursor) == ([], cursor)
        # 11:00 has no 1-minute files and is passed over; 12:00 is requested once it closed.
        assert tick(definitions, instance, monkeypatch, "2026-11-23T12:59:59", cursor) == ([], "2026-11-23-11:00")
        assert tick(definitions, instance, monkeypatch, "2026-11-23T13:00:30", "2026-11-23-11:00") == (
            [request(two_hours, "2026-11-23-12:00")],
            "2026-11-23-12:00",
        )


def test_late_ticks_request_every_closed_hour_in_order(two_hours, definitions, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        requests, cursor = tick(definitions, instance, monkeypatch, "2026-11-24T08:00:00", "2026-11-23-09:00")

    assert requests == [request(two_hours, "2026-11-23-10:00"), request(two_hours, "2026-11-23-12:00")]
    assert cursor == "2026-11-24-07:00"


def test_without_a_cursor_hours_already_built_are_left_out(two_hours, definitions, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        assert backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-10:00").success

        requests, cursor = tick(definitions, instance, monkeypatch, "2026-11-23T13:00:00", None)

    assert (requests, cursor) == ([request(two_hours, "2026-11-23-12:00")], "2026-11-23-12:00")


def test_a_chunk_closed_after_its_hour_was_built_rebuilds_the_hour(two_hours, definitions, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        assert backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-12:00").success
        built = layout.hour_signature(two_hours / "warehouse", HOUR)
        assert metadata(backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-10:00"))["sources"] == {
            "2026-11-23-10:00": built
        }
        assert tick(definitions, instance, monkeypatch, "2026-11-23T13:00:30", "2026-11-23-12:00") == (
            [],
            "2026-11-23-12:00",
        )

        # A relaunched run closes 10:55 (slots 220-239 of the hour) after 10:00 was built.
        build_chunk(two_hours / "warehouse", HOUR + timedelta(minutes=55), range(220, 240))
        run_id = collecting(instance, "2026-11-23-10:00")
        assert tick(definitions, instance, monkeypatch, "2026-11-23T13:01:00", "2026-11-23-12:00") == (
            [],
            "2026-11-23-12:00",
        )
        instance.delete_run(run_id)
        requests, cursor = tick(definitions, instance, monkeypatch, "2026-11-23T13:01:30", "2026-11-23-12:00")
        assert (requests, cursor) == ([request(two_hours, "2026-11-23-10:00")], "2026-11-23-12:00")
        assert requests[0][1] != sensors.run_key(HOUR, built)

        assert backfill(definitions, instance, "2026-11-23-10:00", "2026-11-23-10:00").success
        assert tick(definitions, instance, monkeypatch, "2026-11-23T13:02:00", cursor) == ([], cursor)
    samples = (
        warehouse.connect(two_hours)
        .execute("SELECT sum(samples) FROM market_stats_1h WHERE hour(bucket_start) = 10")
        .fetchone()
    )
    assert samples == (5 * (6 + 20),)  # 5 markets: 6 slots at 10:00-10:01, 20 at 10:55-10:59
