"""The ops domain's jobs, schedules and sensors exist, start RUNNING and tick when documented."""

from datetime import UTC, datetime

import dagster as dg
import pytest


@pytest.mark.parametrize(
    ("schedule", "job", "cron"),
    [("retention_daily", "retention_job", "30 0 * * *"), ("prune_runs_daily", "prune_runs_job", "45 0 * * *")],
)
def test_daily_schedules_run_by_default(definitions, schedule, job, cron):
    schedule_def = definitions.resolve_schedule_def(schedule)
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 24, 0, 30, tzinfo=UTC))

    (request,) = schedule_def.evaluate_tick(context).run_requests

    assert schedule_def.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (schedule_def.job_name, schedule_def.cron_schedule) == (job, cron)
    assert request.run_config == {}  # defaults: the FUNDING_RETENTION_* variables, else 7/30/400/30 days


def test_alert_sensors_run_by_default(definitions):
    alerts = definitions.resolve_sensor_def("funding_alerts")
    failures = definitions.resolve_sensor_def("run_failure_alerts")

    assert alerts.default_status == failures.default_status == dg.DefaultSensorStatus.RUNNING
    assert alerts.minimum_interval_seconds == 60


def test_retention_writes_through_its_own_pool(definitions):
    (op,) = definitions.resolve_job_def("retention_job").graph.node_defs

    assert op.pool == "duckdb_retention"
