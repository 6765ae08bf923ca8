from datetime import datetime, timedelta

import dagster as dg

from funding_pipeline.defs.ingest.partitions import COLLECTION_HOURS

collection_job = dg.define_asset_job(
    "collection_job",
    selection=dg.AssetSelection.assets("market_snapshots", "tracker_polls", "market_stats_1m"),
    partitions_def=COLLECTION_HOURS,
    description="One run per hour polls every venue 240 times and writes 12 chunk files.",
    # Run monitoring (dagster.yaml) kills a run past this; run retries relaunch the hour,
    # which resumes at the current slot.
    tags={"dagster/max_runtime": 3900},
    # In process: no per-step subprocess, so the run is polling seconds sooner after launch.
    executor_def=dg.in_process_executor,
)

# A run costs seconds to launch: the schedule starts it this much before its hour, and the run
# waits for HH:00:00 so the first slot is on time.
LEAD = timedelta(minutes=1)


def collection_hour_key(scheduled_at: datetime) -> str:
    """The partition a tick at `scheduled_at` (HH-1:59) launches: the hour starting next."""
    hour = (scheduled_at + LEAD).replace(minute=0, second=0, microsecond=0)
    return hour.strftime(COLLECTION_HOURS.fmt)


@dg.schedule(
    name="collection_hourly",
    job=collection_job,
    cron_schedule="59 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At HH:59 launches the collection run of the hour starting at the next HH:00; "
    "the run waits for HH:00:00, so its launch overhead never costs the first slot.",
)
def collection_hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    key = collection_hour_key(context.scheduled_execution_time)
    return dg.RunRequest(run_key=key, partition_key=key)
