from datetime import UTC, datetime, timedelta

import dagster as dg

from funding_pipeline.defs.history.assets import partition_days_and_venues
from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib import candles, history, moving_averages
from funding_pipeline.warehouse import connect_files

NO_DUPLICATE_PRINTS = "no_duplicate_prints"
RATES_WITHIN_CAP = "rates_within_cap"
NO_GAPS = "no_gaps_beyond_two_intervals"
INVALID_BELOW_COVERAGE = "invalid_below_coverage"
MA_VALUES_FINITE = "ma_values_finite"
ARBITRAGE_LEGS_DIFFER = "arbitrage_ma_legs_differ"
NO_DUPLICATE_CANDLES = "no_duplicate_candles"
CANDLES_CONSISTENT = "candles_consistent"


def _history_scope(context: dg.AssetCheckExecutionContext):
    """(warehouse, venues, start, end) covering every (day, venue) key of the run."""
    pairs = partition_days_and_venues(context.partition_keys)
    days = [d for d, _ in pairs]
    start = datetime(min(days).year, min(days).month, min(days).day, tzinfo=UTC)
    end = datetime(max(days).year, max(days).month, max(days).day, tzinfo=UTC) + timedelta(days=1)
    return settings().warehouse, sorted({v for _, v in pairs}), start, end


@dg.asset_check(asset="funding_rate_history", name=NO_DUPLICATE_PRINTS, blocking=True)
def no_duplicate_prints(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No (exchange, symbol, funding_time) twice in the partition's days: a rerun replaces a day."""
    warehouse, venues, start, end = _history_scope(context)
    with history.history_connection(warehouse, venues, start, end) as con:
        dupes = history.duplicate_prints(con, start, end)
    return dg.AssetCheckResult(passed=not dupes, metadata={"examples": dg.MetadataValue.json(dupes)})


@dg.asset_check(asset="funding_rate_history", name=RATES_WITHIN_CAP, blocking=True)
def rates_within_cap(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every stored per-hour rate is within its venue's cap (4 %/h on Hyperliquid's dexes, else
    the sane cap of 5 %/h) with a positive interval."""
    warehouse, venues, start, end = _history_scope(context)
    with history.history_connection(warehouse, venues, start, end) as con:
        bad = history.rates_beyond_cap(con, start, end, venues)
    caps = {v: float(history.rate_cap(v)) for v in venues}
    return dg.AssetCheckResult(
        passed=not bad, metadata={"cap_per_hour": dg.MetadataValue.json(caps), "examples": dg.MetadataValue.json(bad)}
    )


@dg.asset_check(asset="funding_rate_history", name=NO_GAPS)
def no_gaps_beyond_two_intervals(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Warns when consecutive prints of a market lie more than two intervals apart (an outage,
    a delisting or missing pages); counts per venue and symbol are in the metadata."""
    warehouse, venues, start, end = _history_scope(context)
    with history.history_connection(warehouse, venues, start, end) as con:
        found = history.gaps(con, start, end)
    return dg.AssetCheckResult(
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "markets_with_gaps": sum(len(s) for s in found.values()),
            "gaps": dg.MetadataValue.json(found),
        },
    )


def _latest_min_coverage(context: dg.AssetCheckExecutionContext) -> float:
    """The threshold the newest funding_rate_ma materialization used (its metadata), else the default."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("funding_rate_ma"))
    found = event.asset_materialization.metadata.get("min_coverage") if event and event.asset_materialization else None
    return float(found.value) if found is not None else moving_averages.DEFAULT_MIN_COVERAGE


@dg.asset_check(asset="funding_rate_ma", name=INVALID_BELOW_COVERAGE, blocking=True)
def invalid_below_coverage(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every MA row with coverage below the run's min_coverage is marked valid = false (and only those)."""
    threshold = _latest_min_coverage(context)
    with moving_averages.latest_connection(settings().warehouse, ["funding_rate_ma"]) as con:
        wrong = moving_averages.misflagged_rows(con, threshold)
        invalid = con.execute("SELECT count(*) FROM funding_rate_ma WHERE NOT valid").fetchone()[0]
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={"min_coverage": threshold, "invalid_rows": invalid, "misflagged": dg.MetadataValue.json(wrong)},
    )


@dg.asset_check(asset="funding_rate_ma", name=MA_VALUES_FINITE, blocking=True)
def ma_values_finite(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Every MA is finite, coverage within 0-1 and samples positive."""
    with moving_averages.latest_connection(settings().warehouse, ["funding_rate_ma"]) as con:
        bad = moving_averages.non_finite_ma(con)
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_rows": bad})


@dg.asset_check(asset="funding_arbitrage_ma", name=ARBITRAGE_LEGS_DIFFER, blocking=True)
def arbitrage_ma_legs_differ(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No ranked pair whose long and short legs are the same venue, and no negative spread."""
    with moving_averages.latest_connection(settings().warehouse, ["funding_arbitrage_ma"]) as con:
        bad = con.execute(
            "SELECT count(*) FROM funding_arbitrage_ma WHERE long_exchange = short_exchange OR spread_apr < 0"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_rows": bad})


def _candle_scope(context: dg.AssetCheckExecutionContext):
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    return connect_files({"price_candles": candles.candle_files(settings().warehouse, first, last)}), first, last


@dg.asset_check(asset="price_candles", name=NO_DUPLICATE_CANDLES, blocking=True)
def no_duplicate_candles(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """One candle per (day, symbol) in the partition's days, however often they were loaded."""
    con, first, last = _candle_scope(context)
    with con:
        dupes = candles.duplicate_candles(con, first, last)
    return dg.AssetCheckResult(passed=not dupes, metadata={"examples": dg.MetadataValue.json(dupes)})


@dg.asset_check(asset="price_candles", name=CANDLES_CONSISTENT, blocking=True)
def candles_consistent(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """low <= open, close <= high, prices positive and finite, volumes not negative."""
    con, first, last = _candle_scope(context)
    with con:
        bad = candles.bad_candles(con, first, last)
    return dg.AssetCheckResult(passed=not bad, metadata={"examples": dg.MetadataValue.json(bad)})
