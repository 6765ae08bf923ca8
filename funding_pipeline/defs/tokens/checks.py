import dagster as dg

from funding_pipeline.defs.metadata import enabled_exchange_ids, settings
from funding_pipeline.lib import quality

RATES_CONSISTENT = "rates_consistent"
ALL_VENUES_PRESENT = "all_venues_present"
LEGS_DIFFER = "legs_on_different_venues"


@dg.asset_check(asset="normalized_tokens", name=RATES_CONSISTENT, blocking=True)
def rates_consistent(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """funding_rate_1h = rate / interval, funding_rate_8h = 8 x 1h, funding_apr = 8760 x 1h."""
    with quality.latest_connection(settings().warehouse, ["normalized_tokens"]) as con:
        bad = quality.inconsistent_token_rates(con)
    return dg.AssetCheckResult(passed=not bad, metadata={"bad_rows": len(bad), "examples": dg.MetadataValue.json(bad)})


@dg.asset_check(asset="normalized_tokens", name=ALL_VENUES_PRESENT)
def all_venues_present(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every enabled venue has rows in the newest chunk (warns: one venue down must not stop the rest)."""
    current = settings()
    with quality.latest_connection(current.warehouse, ["normalized_tokens"]) as con:
        missing = quality.missing_venues(con, enabled_exchange_ids(current))
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing": ", ".join(missing) or "-"},
    )


@dg.asset_check(asset="funding_arbitrage", name=LEGS_DIFFER, blocking=True)
def legs_on_different_venues(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No arbitrage row whose long and short legs are the same venue."""
    with quality.latest_connection(settings().warehouse, ["funding_arbitrage"]) as con:
        same = quality.same_venue_legs(con)
    return dg.AssetCheckResult(passed=same == 0, metadata={"rows": same})
