from datetime import UTC, datetime

import dagster as dg

from funding_pipeline.defs.ingest.partitions import COLLECTION_HOURS
from funding_pipeline.defs.ingest.schedules import collection_job
from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib import liveness

LIVENESS_SENSOR = "collection_liveness"
COLLECTION_STEP = "collection_hour"
WILL_RETRY_TAG = "dagster/will_retry"
RELAUNCH_OF_TAG = "funding/relaunch_of"


def wall_now() -> datetime:
    return datetime.now(UTC)


def _collecting_since(instance: dg.DagsterInstance, run_id: str) -> datetime | None:
    """When the run's collection step started; None while it waits for its pool or launch."""
    starts = [
        e for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START) if e.step_key == COLLECTION_STEP
    ]
    return datetime.fromtimestamp(max(e.timestamp for e in starts), UTC) if starts else None


@dg.sensor(
    name=LIVENESS_SENSOR,
    job=collection_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def collection_liveness(context: dg.SensorEvaluationContext):
    """Fails a collection run whose worker died (its hour's chunk files stopped changing for more
    than 8 slots while the run is STARTED) and gets the hour relaunched at once: by Dagster's run
    retries when they will retry it, else by a run request for the same partition (after the hour,
    only while an open chunk is left: the relaunch closes it, then refuses the past hour). A worker
    that hangs but lives is sent a termination first. The default run launcher has no worker
    health check, so without this only max runtime would notice."""
    warehouse = settings().warehouse
    now = wall_now()
    requests, notes = [], []
    records = context.instance.get_run_records(
        dg.RunsFilter(job_name=collection_job.name, statuses=[dg.DagsterRunStatus.STARTED])
    )
    for record in records:
        run = record.dagster_run
        key = run.tags.get("dagster/partition")
        if key is None:
            continue
        since = _collecting_since(context.instance, run.run_id)
        if since is None:
            notes.append(f"{key}: not collecting yet")
            continue
        hour = COLLECTION_HOURS.time_window_for_partition_key(key).start
        verdict = liveness.judge(hour, now, since, liveness.last_write(warehouse, hour))
        if not verdict.dead:
            notes.append(f"{key}: alive")
            continue
        message = f"{verdict.reason}: the run's worker is presumed dead"
        context.log.error("run %s: %s", run.run_id, message)
        # A worker that hangs but lives would keep its chunk's DuckDB lock and refuse the
        # relaunch: ask its code server to stop it first (a dead worker makes this a no-op).
        try:
            stopped = context.instance.run_launcher.terminate(run.run_id)
        except Exception as exc:  # the code server may have gone with its worker
            stopped = False
            context.log.warning("run %s: termination request failed: %s", run.run_id, exc)
        message += "; termination sent to its worker" if stopped else "; no worker answered a termination request"
        context.instance.report_run_failed(context.instance.get_run_by_id(run.run_id) or run, message=message)
        failed = context.instance.get_run_by_id(run.run_id)
        if failed.tags.get(WILL_RETRY_TAG) == "true":
            notes.append(f"{key}: failed dead run {run.run_id}; Dagster's run retries relaunch it")
            continue
        if not verdict.in_hour and not liveness.open_chunks(warehouse, hour):
            notes.append(f"{key}: failed dead run {run.run_id}; its hour is over and nothing is left open")
            continue
        notes.append(f"{key}: failed dead run {run.run_id}; relaunched")
        requests.append(
            dg.RunRequest(
                run_key=f"relaunch:{run.run_id}",
                partition_key=key,
                tags={RELAUNCH_OF_TAG: run.run_id},
            )
        )
    skip = "; ".join(notes) or "no collection run in progress"
    return dg.SensorResult(run_requests=requests, skip_reason=None if requests else skip)
