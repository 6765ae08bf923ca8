"""The code location loads, and its assets, checks, jobs and schedules are what the contract says."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from funding_pipeline.definitions import defs


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def test_definitions_load(definitions):
    dg.Definitions.validate_loadable(definitions)


def test_every_asset_has_description_owner_kinds_and_columns(definitions):
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        assert spec.description, key
        assert spec.owners, key
        assert spec.metadata.get("dagster/column_schema") is not None, key
        assert any(tag.startswith("dagster/kind/") for tag in spec.tags), key
        assert spec.freshness_policy is not None, key


def test_ingest_assets_partitioned_hourly_with_open_hour(definitions):
    graph = definitions.resolve_asset_graph()
    for name in ("market_snapshots", "tracker_polls", "market_stats_1m"):
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
        assert partitions.cron_schedule == "0 * * * *"
        assert partitions.end_offset == 2


def test_ingest_checks_are_blocking(definitions):
    graph = definitions.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    for key in [
        ("tracker_polls", "slot_coverage"),
        ("market_snapshots", "no_duplicate_snapshots"),
        ("market_snapshots", "finite_values"),
        ("market_stats_1m", "samples_match_raw"),
    ]:
        assert checks[key].blocking, key


@pytest.mark.parametrize(
    ("scheduled_at", "partition"),
    [
        (datetime(2026, 11, 23, 12, 59, tzinfo=UTC), "2026-11-23-13:00"),
        (datetime(2026, 11, 23, 23, 59, tzinfo=UTC), "2026-11-24-00:00"),  # across midnight
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2027-01-01-00:00"),
    ],
)
def test_collection_schedule_launches_the_next_hour_a_minute_early(definitions, scheduled_at, partition):
    schedule = definitions.get_schedule_def("collection_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("59 * * * *", "UTC")

    context = dg.build_schedule_context(
        scheduled_execution_time=scheduled_at, repository_def=definitions.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests

    assert (request.partition_key, request.run_key) == (partition, partition)
    assert request.job_name in (None, "collection_job")
    # the hour that starts in a minute is already a partition (end_offset=2)
    keys = definitions.resolve_job_def("collection_job").partitions_def.get_partition_keys(
        current_time=scheduled_at + timedelta(seconds=5)
    )
    assert keys[-2:] == [
        (scheduled_at - timedelta(minutes=59)).strftime("%Y-%m-%d-%H:%M"),
        partition,
    ]


def test_every_schedule_and_sensor_runs_by_default(definitions):
    for schedule in definitions.schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
    for sensor in definitions.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name


def test_every_writing_asset_names_a_pool(definitions):
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.pools, key


def test_stats_1h_sensor_requests_the_hour_the_collection_closed(definitions, monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUNDING_SOURCE", "replay")
    monkeypatch.setenv("FUNDING_CLOCK", "simulated")
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid")
    instance = dg.DagsterInstance.ephemeral()
    collected = definitions.resolve_job_def("collection_job").execute_in_process(
        partition_key="2026-11-23-10:00", instance=instance
    )
    assert collected.success

    sensor = definitions.get_sensor_def("stats_1h_when_hour_closes")
    with dg.build_sensor_context(instance=instance, definitions=definitions) as context:
        result = sensor.evaluate_tick(context)

    (request,) = result.run_requests
    assert request.partition_key == "2026-11-23-10:00"
    assert sensor.job_name == "stats_1h_job"


def test_dagster_cli_validates_the_workspace(tmp_path):
    """The same check an operator runs: `dagster definitions validate -w workspace.yaml`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("")

    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout
