from datetime import timedelta

import dagster as dg

from funding_pipeline.defs.aggregates.partitions import CLOSED_HOURS
from funding_pipeline.defs.metadata import OWNERS, column_schema, settings, settings_metadata
from funding_pipeline.lib.aggregates import write_stats_1h
from funding_pipeline.lib.storage import layout


@dg.asset(
    name="market_stats_1h",
    group_name="aggregates",
    deps=["market_stats_1m"],
    partitions_def=CLOSED_HOURS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb_stats_1h",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("market_stats_1h"),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(minutes=75)),
)
def market_stats_1h(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Hourly buckets from the hour's closed 1-minute rows: sample-weighted average rate,
    min/max, first open, last close, last open interest and volume, summed samples. In a range
    backfill an hour without 1-minute files is skipped and listed in `empty_hours`. `sources`
    records which 1-minute files each hour was built from, so a chunk closed later is seen."""
    current = settings()
    window = context.partition_time_window
    hour, files, empty, sources = window.start, set(), [], {}
    while hour < window.end:  # a single-run backfill covers a range of hours
        # Taken before reading: a file written meanwhile makes the hour look stale, never current.
        signature = layout.hour_signature(current.warehouse, hour)
        written = write_stats_1h(current.warehouse, hour)
        if written is None:
            empty.append(hour.strftime(CLOSED_HOURS.fmt))
        else:
            files.add(str(written))
            sources[hour.strftime(CLOSED_HOURS.fmt)] = signature
        hour += timedelta(hours=1)
    if not files:
        raise dg.Failure(f"no 1-minute aggregates for {', '.join(empty)} under {current.warehouse}")
    if empty:
        context.log.warning(f"skipped {len(empty)} hour(s) without 1-minute aggregates: {', '.join(empty)}")
    hours = int((window.end - window.start) / timedelta(hours=1))
    return dg.MaterializeResult(
        metadata={
            **settings_metadata(current),
            "hours": hours,
            "hours_written": hours - len(empty),
            "empty_hours": dg.MetadataValue.json(empty),
            "files": sorted(files),
            "sources": dg.MetadataValue.json(sources),
        }
    )
