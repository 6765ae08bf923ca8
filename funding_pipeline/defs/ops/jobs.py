from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from funding_pipeline.defs.aggregates.checks import BUCKETS_IN_PARTITION, SAMPLES_MATCH_1M
from funding_pipeline.defs.ingest.checks import FINITE_VALUES, NO_DUPLICATES, SAMPLES_MATCH_RAW
from funding_pipeline.defs.ingest.partitions import COLLECTION_HOURS
from funding_pipeline.defs.metadata import settings, settings_metadata
from funding_pipeline.defs.ops import records
from funding_pipeline.lib import retention

RETENTION_JOB = "retention_job"
PRUNE_RUNS_JOB = "prune_runs_job"

# The blocking checks that must have passed on an hour before the tier below it may be deleted.
GATES = {
    retention.RAW: (
        dg.AssetCheckKey(dg.AssetKey("market_stats_1m"), SAMPLES_MATCH_RAW),
        dg.AssetCheckKey(dg.AssetKey("market_snapshots"), NO_DUPLICATES),
        dg.AssetCheckKey(dg.AssetKey("market_snapshots"), FINITE_VALUES),
    ),
    retention.STATS_1M: (
        dg.AssetCheckKey(dg.AssetKey("market_stats_1h"), SAMPLES_MATCH_1M),
        dg.AssetCheckKey(dg.AssetKey("market_stats_1h"), BUCKETS_IN_PARTITION),
    ),
}
# The assets whose hourly partitions a deleted unit held (observations record the deletion).
TIER_ASSETS = {
    retention.RAW: ("market_snapshots", "tracker_polls"),
    retention.STATS_1M: ("market_stats_1m",),
    retention.STATS_1H: ("market_stats_1h",),
}
KEPT_SHOWN = 50


def _partition_key(hour: datetime) -> str:
    return hour.strftime(COLLECTION_HOURS.fmt)


def _as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _deletion_observations(done: retention.Deleted, policy: retention.RetentionPolicy, now: datetime):
    """One observation per hourly partition whose data a deleted unit held, on each of its assets."""
    for asset in TIER_ASSETS[done.item.tier]:
        for hour in done.item.hours:
            yield dg.AssetObservation(
                asset_key=asset,
                partition=_partition_key(hour),
                description=f"Deleted by retention ({done.item.tier} tier): this partition's data is gone.",
                metadata={
                    "retention": "deleted",
                    "data_present": False,
                    "tier": done.item.tier,
                    "retention_days": policy.as_days()[done.item.tier],
                    "files_deleted": done.files,
                    "bytes_freed": done.bytes,
                    "deleted_at": now.isoformat(),
                },
            )


class RetentionConfig(dg.Config):
    """Days to keep each tier; empty = `FUNDING_RETENTION_*_DAYS`, else 7 / 30 / 400."""

    raw_days: float | None = Field(None, description="market_snapshots chunk files (also tracker_polls)")
    stats_1m_days: float | None = Field(None, description="market_stats_1m files")
    stats_1h_days: float | None = Field(None, description="market_stats_1h day files")
    dry_run: bool = Field(False, description="report what would be deleted, delete nothing")
    as_of: str | None = Field(None, description="evaluate as if now were this UTC time (ISO 8601)")


@dg.op(pool="duckdb_retention", out=dg.Out(dg.Nothing))
def apply_retention(context: dg.OpExecutionContext, config: RetentionConfig):
    """Deletes warehouse files past their tier's retention. A raw hour goes only once every chunk's
    1-minute file exists and the hour's blocking checks passed; a 1m hour only once its 1h rows
    exist and passed their checks. Every deleted hour gets an observation saying its data is gone."""
    current = settings()
    now = _as_of(config.as_of)
    policy = retention.load_policy(raw=config.raw_days, stats_1m=config.stats_1m_days, stats_1h=config.stats_1h_days)
    items = retention.expired(current.warehouse, now, policy)
    checks: dict = {}
    for tier, gate in GATES.items():
        hours = sorted({h for item in items if item.tier == tier for h in item.hours})
        found = records.check_results(context.instance, gate, [_partition_key(h) for h in hours])
        checks.update({(tier, h): found[_partition_key(h)] for h in hours})
    plan = retention.decide(items, current.warehouse, checks)

    for item, reason in plan.kept[:KEPT_SHOWN]:
        context.log.warning(f"retention keeps {item.tier} {item.start:%Y-%m-%d %H:%M}: {reason}")
    if len(plan.kept) > KEPT_SHOWN:
        context.log.warning(f"retention keeps {len(plan.kept) - KEPT_SHOWN} more unit(s) for the same kinds of reason")
    deleted = [] if config.dry_run else retention.delete(current.warehouse, plan.delete)
    for done in deleted:
        for event in _deletion_observations(done, policy, now):
            context.log_event(event)
    summary = {
        tier: {
            "expired": sum(1 for i in items if i.tier == tier),
            "deleted": sum(1 for d in deleted if d.item.tier == tier),
            "kept": sum(1 for i, _ in plan.kept if i.tier == tier),
        }
        for tier in retention.TIERS
    }
    context.log.info(f"retention as of {now:%Y-%m-%d %H:%M} UTC: {summary}")
    yield dg.Output(
        None,
        metadata={
            **settings_metadata(current),
            "as_of": now.isoformat(),
            "dry_run": config.dry_run,
            "policy_days": dg.MetadataValue.json(policy.as_days()),
            "per_tier": dg.MetadataValue.json(summary),
            "files_deleted": sum(d.files for d in deleted),
            "bytes_freed": sum(d.bytes for d in deleted),
            "would_delete": dg.MetadataValue.json(
                [f"{i.tier} {i.start:%Y-%m-%d %H:%M}" for i in plan.delete][:KEPT_SHOWN] if config.dry_run else []
            ),
            "kept": dg.MetadataValue.json([f"{i.tier} {reason}" for i, reason in plan.kept[:KEPT_SHOWN]]),
        },
    )


@dg.job(name=RETENTION_JOB, description="Deletes warehouse files past their tier's retention (docs/operations.md).")
def retention_job():
    apply_retention()


class PruneRunsConfig(dg.Config):
    """Age after which finished runs are deleted; empty = `FUNDING_RETENTION_RUNS_DAYS`, else 30."""

    older_than_days: float | None = Field(None, description="minimum age of a finished run to delete")
    dry_run: bool = Field(False, description="report what would be deleted, delete nothing")
    as_of: str | None = Field(None, description="evaluate as if now were this UTC time (ISO 8601)")


@dg.op(out=dg.Out(dg.Nothing))
def prune_runs(context: dg.OpExecutionContext, config: PruneRunsConfig):
    """Deletes finished runs (and their event logs) older than the run retention. Runs still in
    progress are never touched; a run that materialized a tiered asset lives until that tier's data
    expired, and one that materialized history or candles is kept, so the UI never shows data
    that is present as missing."""
    now = _as_of(config.as_of)
    policy = retention.load_policy(runs=config.older_than_days)
    instance = context.instance
    deleted, kept = [], 0
    for record in records.finished_runs_before(instance, now - policy.runs):
        run = record.dagster_run
        if run.run_id == context.run_id:
            continue
        ended = datetime.fromtimestamp(record.end_time, UTC) if record.end_time else record.update_timestamp
        expires = retention.run_expires_at(ended, records.materialized_assets(instance, run.run_id), policy)
        if expires is None or expires > now:
            kept += 1
            continue
        if not config.dry_run:
            instance.delete_run(run.run_id)
        deleted.append(run.run_id)
    context.log.info(
        f"{'would delete' if config.dry_run else 'deleted'} {len(deleted)} run(s) finished before "
        f"{now - policy.runs:%Y-%m-%d %H:%M} UTC; kept {kept} whose data is still retained"
    )
    yield dg.Output(
        None,
        metadata={
            "as_of": now.isoformat(),
            "dry_run": config.dry_run,
            "older_than_days": policy.as_days()["runs"],
            "runs_deleted": 0 if config.dry_run else len(deleted),
            "runs_matching": len(deleted),
            "runs_kept_for_data": kept,
        },
    )


@dg.job(name=PRUNE_RUNS_JOB, description="Deletes finished Dagster runs and their event logs past the run retention.")
def prune_runs_job():
    prune_runs()
