import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from funding_pipeline.defs.aggregates.partitions import CLOSED_HOURS
from funding_pipeline.defs.ingest.schedules import collection_job
from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib.storage import layout

HOUR = timedelta(hours=1)
MAX_REQUESTS_PER_TICK = 24  # catching up after downtime spreads over ticks
# Hours handled earlier that are checked again for 1-minute files written after their 1h was
# built (a chunk closed by a relaunched run after its hour ended).
RECHECK_HOURS = 6
STATS_1H = dg.AssetKey("market_stats_1h")
# A collection run in one of these states may still close chunks of its hour.
COLLECTING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

stats_1h_job = dg.define_asset_job(
    "stats_1h_job",
    selection=dg.AssetSelection.assets("market_stats_1h"),
    partitions_def=CLOSED_HOURS,
    description="Rolls one closed hour of 1-minute rows into market_stats_1h.",
)


def wall_now() -> datetime:
    return datetime.now(UTC)


def _key(hour: datetime) -> str:
    return hour.strftime(CLOSED_HOURS.fmt)


def _hour(key: str) -> datetime:
    return datetime.strptime(key, CLOSED_HOURS.fmt).replace(tzinfo=UTC)


def plan_hours(
    start: datetime | None,
    now: datetime,
    has_data: Callable[[datetime], bool],
    collecting: Callable[[datetime], bool],
    limit: int = MAX_REQUESTS_PER_TICK,
) -> tuple[list[datetime], list[datetime], datetime | None]:
    """Walk the closed hours from `start` in order: (hours to request, empty hours passed over,
    the last hour handled). An hour is closed once the clock passed its end and no collection
    run for it is still going; the walk stops at the first hour that is not, so it is handled on
    a later tick — never skipped. Closed hours without 1-minute files are passed over."""
    requested, empty, last = [], [], None
    hour = start
    newest_closed = now.replace(minute=0, second=0, microsecond=0) - HOUR
    while hour is not None and hour <= newest_closed and len(requested) < limit:
        if collecting(hour):
            break
        (requested if has_data(hour) else empty).append(hour)
        last = hour
        hour += HOUR
    return requested, empty, last


def run_key(hour: datetime, signature: str) -> str:
    """One run per hour and set of 1-minute files: the same files never run twice."""
    return f"stats_1h:{_key(hour)}:{hashlib.sha256(signature.encode()).hexdigest()[:12]}"


def stale_hours(
    hours: list[datetime],
    current: Callable[[datetime], str | None],
    built_from: Callable[[datetime], str | None],
    collecting: Callable[[datetime], bool],
) -> list[tuple[datetime, str]]:
    """(hour, its 1m signature now) for each hour whose 1-minute files are not the ones its last
    1h build read (or that has files and was never built), unless its collection still runs."""
    stale = []
    for hour in hours:
        now = current(hour)
        if now is not None and now != built_from(hour) and not collecting(hour):
            stale.append((hour, now))
    return stale


def built_from(instance: dg.DagsterInstance, hour: datetime) -> str | None:
    """The `sources` signature the hour's latest market_stats_1h materialization recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=STATS_1H, asset_partitions=[_key(hour)]), limit=1
    ).records
    meta = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
    sources = meta.get("sources")
    return sources.value.get(_key(hour)) if isinstance(sources, dg.JsonMetadataValue) else None


@dg.sensor(
    job=stats_1h_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def stats_1h_when_hour_closes(context: dg.SensorEvaluationContext):
    """Requests market_stats_1h for every closed hour whose 1-minute files exist, in order, one
    run per hour and set of files (`run_key`). The cursor is the last hour handled; an hour whose
    collection run is still going (or that has not ended yet) waits for a later tick. The last
    `RECHECK_HOURS` handled hours are built again when their 1-minute files changed since (a
    late chunk). Without a cursor it starts at the oldest 1-minute hour on disk and leaves out
    hours already built."""
    warehouse = settings().warehouse
    instance = context.instance
    if context.cursor:
        start, done = _hour(context.cursor) + HOUR, set()
    else:
        start = layout.first_stats_1m_hour(warehouse)
        done = instance.get_materialized_partitions(STATS_1H) if start else set()

    def collecting(hour: datetime) -> bool:
        tags = {"dagster/partition": _key(hour)}
        filters = dg.RunsFilter(job_name=collection_job.name, tags=tags, statuses=COLLECTING)
        return bool(instance.get_run_records(filters=filters, limit=1))

    def has_data(hour: datetime) -> bool:
        return _key(hour) not in done and bool(layout.hour_files(warehouse, hour, layout.stats_1m_path))

    requested, empty, last = plan_hours(start, wall_now(), has_data, collecting)
    if empty:
        context.log.info(f"no 1-minute files (or already built): {', '.join(_key(h) for h in empty)}")
    handled = [_hour(context.cursor) - HOUR * k for k in range(RECHECK_HOURS)] if context.cursor else []
    stale = stale_hours(
        handled, lambda h: layout.hour_signature(warehouse, h), lambda h: built_from(instance, h), collecting
    )
    if stale:
        context.log.info(f"1-minute files changed after the 1h build: {', '.join(_key(h) for h, _ in stale)}")
    cursor = _key(last) if last is not None else context.cursor
    todo = stale + [(h, sig) for h in requested if (sig := layout.hour_signature(warehouse, h))]
    if not todo:
        pending = last + HOUR if last is not None else start
        waiting = f"; next: {_key(pending)}" if pending is not None else "; no 1-minute files yet"
        return dg.SensorResult(skip_reason=f"no closed hour to roll up{waiting}", cursor=cursor)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=run_key(h, sig), partition_key=_key(h)) for h, sig in todo],
        cursor=cursor,
    )
