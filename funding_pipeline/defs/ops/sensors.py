import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from funding_pipeline.defs.metadata import enabled_exchange_ids, settings
from funding_pipeline.defs.ops import records
from funding_pipeline.defs.ops.resources import AlertWebhook
from funding_pipeline.lib import alerts
from funding_pipeline.lib.settings import Settings
from funding_pipeline.lib.tokens import newest_closed_chunk

ALERT_SENSOR = "funding_alerts"
RUN_FAILURE_SENSOR = "run_failure_alerts"
CURSOR_VERSION = 2  # 2: run_failed keyed by job and partition
WILL_RETRY_TAG = "dagster/will_retry"


def _now(current: Settings) -> datetime:
    """Wall time, or with the simulated clock the end of the newest closed chunk (as the tokens do)."""
    if current.clock == "simulated":
        chunk = newest_closed_chunk(current.warehouse)
        if chunk is not None:
            day, hour, name = chunk.parts[-3:]
            start = datetime.strptime(f"{day} {hour}:{name[:2]}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            return start + timedelta(minutes=5)
    return datetime.now(UTC)


def _firing(cursor: str | None) -> dict[str, dict]:
    if not cursor:
        return {}
    state = json.loads(cursor)
    return state.get("firing", {}) if state.get("version") == CURSOR_VERSION else {}


def _jobs(repository_def: dg.RepositoryDefinition) -> list[str]:
    return sorted(j.name for j in repository_def.get_all_jobs() if not j.name.startswith("__"))


@dg.sensor(name=ALERT_SENSOR, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def funding_alerts(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook):
    """Alerts once when a condition starts and once when it clears: a venue wrote rows in too few of
    the last hour's slots or in none of the last N, the collection stalled, a freshness policy
    fails, the latest run of a job (+ partition) failed. The firing set lives in the cursor (JSON)."""
    current = settings()
    policy = alerts.load_alert_policy()
    now = _now(current)
    health = alerts.venue_health(current.warehouse, now, enabled_exchange_ids(current))
    findings = alerts.venue_findings(health, policy)
    complete = {alerts.VENUE_SHARE, alerts.VENUE_SILENT} if findings else set()
    findings.append(alerts.collection_finding(health, policy))
    findings += alerts.freshness_findings(records.freshness_states(context.instance, context.repository_def))
    previous = _firing(context.cursor)
    jobs = _jobs(context.repository_def)
    findings += alerts.job_findings(
        alerts.JobRun(job, r.dagster_run.run_id, r.dagster_run.status.value, records.run_partition(r.dagster_run.tags))
        for job in jobs
        for r in records.latest_finished_runs(context.instance, job)
    )
    findings += alerts.removed_job_findings(previous, jobs)

    step = alerts.step(previous, findings, now, complete)
    failed = alert_webhook.deliver(step.alerts, context.log)
    state = step.without(failed)
    cursor = json.dumps({"version": CURSOR_VERSION, "firing": state}, sort_keys=True)
    skip = f"{len(state)} condition(s) firing; {len(step.alerts)} alert(s) this tick"
    if failed:
        skip += f", {len(failed)} not delivered (retried next tick)"
    return dg.SensorResult(skip_reason=skip, cursor=cursor)


@dg.run_failure_sensor(name=RUN_FAILURE_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alerts(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook):
    """Alerts at once when a job (+ partition) starts failing, with the error and whether Dagster
    retries the run. A failure right after another of the same job and partition (a retry, a
    rerun) is the same condition and sends nothing; `funding_alerts` sends the "resolved" when a
    run of that job and partition succeeds."""
    run = context.dagster_run
    partition = records.run_partition(run.tags)
    before = records.previous_finished_run(context.instance, run)
    if before is not None and before.dagster_run.status == dg.DagsterRunStatus.FAILURE:
        context.log.info(
            f"{alerts.run_failed_key(run.job_name, partition)} already firing since run "
            f"{before.dagster_run.run_id[:8]}; run {run.run_id[:8]} failed too"
        )
        return
    finding = alerts.run_failure_finding(
        run.job_name,
        run.run_id,
        context.failure_event.message or "run failed",
        partition,
        run.tags.get(WILL_RETRY_TAG) == "true",
    )
    failed = alert_webhook.deliver([alerts.announce(finding, datetime.now(UTC))], context.log)
    if failed:
        raise alerts.WebhookError(f"alert for failed run {run.run_id} was not delivered")
