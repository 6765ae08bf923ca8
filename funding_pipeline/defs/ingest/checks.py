import dagster as dg

from funding_pipeline.defs.metadata import enabled_exchange_ids, settings
from funding_pipeline.lib import quality

SLOT_COVERAGE = "slot_coverage"
NO_DUPLICATES = "no_duplicate_snapshots"
FINITE_VALUES = "finite_values"
SAMPLES_MATCH_RAW = "samples_match_raw"


def _hour(context: dg.AssetCheckExecutionContext):
    window = context.partition_time_window
    return settings(), window.start, window.end


@dg.asset_check(asset="tracker_polls", name=SLOT_COVERAGE, blocking=True)
def slot_coverage(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Share of the hour's 240 slots in which each enabled venue wrote rows: warn < 95 %, error < 50 %."""
    current, start, end = _hour(context)
    enabled = enabled_exchange_ids(current)
    with quality.hour_connection(current.warehouse, start) as con:
        cov = quality.slot_coverage(con, start, end, enabled, quality.SLOTS_PER_HOUR)
    severity = dg.AssetCheckSeverity.ERROR if cov.below_error else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not cov.below_warn,
        severity=severity,
        metadata={
            "worst_share": cov.worst,
            "below_95pct": ", ".join(cov.below_warn) or "-",
            "below_50pct": ", ".join(cov.below_error) or "-",
            "shares": dg.MetadataValue.json(cov.shares),
        },
    )


@dg.asset_check(asset="market_snapshots", name=NO_DUPLICATES, blocking=True)
def no_duplicate_snapshots(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No (observed_at, exchange, symbol) twice: a resumed run must not re-poll a slot it holds."""
    current, start, end = _hour(context)
    with quality.hour_connection(current.warehouse, start) as con:
        dupes = quality.duplicate_snapshots(con, start, end)
    return dg.AssetCheckResult(
        passed=not dupes,
        metadata={"examples": dg.MetadataValue.json([[str(v) for v in d] for d in dupes])},
    )


@dg.asset_check(asset="market_snapshots", name=FINITE_VALUES, blocking=True)
def finite_values(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every stored rate and price is finite and every mark price positive."""
    current, start, end = _hour(context)
    with quality.hour_connection(current.warehouse, start) as con:
        bad = quality.non_finite_snapshots(con, start, end)
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_rows": bad})


@dg.asset_check(asset="market_stats_1m", name=SAMPLES_MATCH_RAW, blocking=True)
def samples_match_raw(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The 1-minute `samples` add up to the raw rows of the hour's closed chunks."""
    current, start, end = _hour(context)
    with quality.hour_connection(current.warehouse, start) as con:
        raw, samples = quality.samples_vs_raw(con, start, end)
    return dg.AssetCheckResult(passed=raw == samples, metadata={"raw_rows": raw, "samples": samples})
