import dagster as dg

from funding_pipeline.defs.ops.jobs import prune_runs_job, retention_job

retention_daily = dg.ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="30 0 * * *",  # 00:30 UTC, well after the previous day's last hour closed
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Deletes warehouse files past their tier's retention (raw 7 d, 1m 30 d, 1h 400 d by default).",
)

prune_runs_daily = dg.ScheduleDefinition(
    name="prune_runs_daily",
    job=prune_runs_job,
    cron_schedule="45 0 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Deletes finished Dagster runs and their event logs older than 30 days by default.",
)
