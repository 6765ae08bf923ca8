import dagster as dg

from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib import quality

SAMPLES_MATCH_1M = "samples_match_1m"
BUCKETS_IN_PARTITION = "buckets_in_partition"


@dg.asset_check(asset="market_stats_1h", name=SAMPLES_MATCH_1M, blocking=True)
def samples_match_1m(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Each hour's 1h `samples` equal the sum of its 1-minute `samples`, market by market."""
    window = context.partition_time_window
    with quality.stats_connection(settings().warehouse, window.start, window.end) as con:
        mismatches = quality.hourly_sample_mismatches(con, window.start, window.end)
    return dg.AssetCheckResult(
        passed=not mismatches,
        metadata={"mismatches": len(mismatches), "examples": dg.MetadataValue.json(mismatches[:10])},
    )


@dg.asset_check(asset="market_stats_1h", name=BUCKETS_IN_PARTITION, blocking=True)
def buckets_in_partition(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every 1h bucket of the partition's day files lies on an hour boundary inside its file's day,
    once; each 1h row of the partition's hours comes from 1m rows of its own hour; the
    partition's 1m files hold no bucket of another hour."""
    window = context.partition_time_window
    with quality.stats_connection(settings().warehouse, window.start, window.end) as con:
        misplaced = quality.misplaced_hour_buckets(con, window.start, window.end)
    return dg.AssetCheckResult(
        passed=not any(misplaced.values()),
        metadata={"misplaced_rows": sum(misplaced.values()), "by_kind": dg.MetadataValue.json(misplaced)},
    )
