from datetime import UTC, date, datetime, timedelta

import dagster as dg
from pydantic import Field

from funding_pipeline.defs.history.partitions import CANDLE_DAYS, HISTORY_PARTITIONS
from funding_pipeline.defs.history.resources import CryptoCompare
from funding_pipeline.defs.metadata import OWNERS, column_schema, settings, settings_metadata
from funding_pipeline.lib import candles, history, moving_averages
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.exchanges.model import ParseError
from funding_pipeline.lib.http.errors import TransportError

DAILY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=50), warn_window=timedelta(hours=26))
HOURLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(minutes=90))


def partition_days_and_venues(keys: list[str]) -> list[tuple[date, str]]:
    """(day, exchange) of each multi-partition key of the run, in key order."""
    out = []
    for key in keys:
        dims = HISTORY_PARTITIONS.get_partition_key_from_str(key).keys_by_dimension
        out.append((date.fromisoformat(dims["date"]), dims["exchange"]))
    return out


@dg.asset(
    name="funding_rate_history",
    group_name="history",
    partitions_def=HISTORY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb_history",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    metadata=column_schema("funding_rate_history"),
    freshness_policy=DAILY,
)
def funding_rate_history(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Settled funding prints of one venue and UTC day, every page of the venue's history endpoint
    (`source` = history_endpoint), or for venues without one derived from market_snapshots
    (`source` = snapshots; rule in docs/history.md). Rate as published with its interval and
    where the interval came from, plus per-hour rate and APR. A rerun replaces the day exactly.
    A single-run backfill walks its (day, venue) keys one by one; a venue that fails is listed
    and fails the run after the others are written."""
    current = settings()
    registry = all_exchanges()
    written, failed, rejected = {}, {}, {}
    for day, venue in partition_days_and_venues(context.partition_keys):
        key = f"{day}|{venue}"
        exchange = registry[venue]
        try:
            if exchange.history is None:
                report = history.derived_day(current.warehouse, venue, day)
            else:
                transport, sleep = history.source_transport(current.source, current.replay_dir, venue)
                report = history.history_day(current.warehouse, exchange, day, transport, sleep=sleep)
        except (TransportError, ParseError) as exc:
            context.log.error(f"{key}: {type(exc).__name__}: {exc}")
            failed[key] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        written[key] = {"rows": report.rows, "symbols": report.symbols, "source": report.source}
        if report.rejected:
            rejected[key] = report.rejected[:5]
            context.log.warning(f"{key}: {len(report.rejected)} print(s) rejected, first: {report.rejected[0]}")
    metadata = {
        **settings_metadata(current),
        "dagster/row_count": sum(w["rows"] for w in written.values()),
        "partitions": dg.MetadataValue.json(written),
        "rejected": dg.MetadataValue.json(rejected),
    }
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(context.partition_keys)} partition(s) failed: {', '.join(failed)}",
            metadata={**metadata, "failed": dg.MetadataValue.json(failed)},
        )
    return dg.MaterializeResult(metadata=metadata)


def resolve_as_of(configured: str | None) -> datetime:
    """The hour the windows end at: configured, else the end of the newest data with the
    simulated clock (replay of a past window), else the last full hour."""
    if configured:
        at = datetime.fromisoformat(configured)
        return moving_averages.floor_hour(at if at.tzinfo else at.replace(tzinfo=UTC))
    current = settings()
    if current.clock == "simulated":
        end = moving_averages.data_end(current.warehouse)
        if end is not None:
            return end
    return moving_averages.floor_hour(datetime.now(UTC))


class MovingAverageSettings(dg.Config):
    min_coverage: float = Field(
        default=moving_averages.DEFAULT_MIN_COVERAGE,
        description="Rows with a smaller share of their window covered by data are written with valid = false.",
    )
    as_of: str | None = Field(default=None, description="ISO hour the windows end at (default: the last full hour).")


@dg.asset(
    name="funding_rate_ma",
    group_name="history",
    deps=["funding_rate_history", "market_stats_1h"],
    pool="duckdb_ma",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("funding_rate_ma"),
    freshness_policy=HOURLY,
)
def funding_rate_ma(context: dg.AssetExecutionContext, config: MovingAverageSettings) -> dg.MaterializeResult:
    """Time-weighted moving averages of the per-hour funding rate and APR per (venue, base asset)
    and across venues (`_all`) for 1h, 4h, 8h, 12h, 1d, 3d, 7d, 14d and 30d windows ending at the
    last full hour, from settled history or hourly aggregates (`source`), with samples, coverage
    and `valid` (coverage >= min_coverage). Weighting rules in docs/history.md."""
    current = settings()
    report = moving_averages.write_moving_averages(current.warehouse, resolve_as_of(config.as_of), config.min_coverage)
    return dg.MaterializeResult(
        metadata={
            **settings_metadata(current),
            "dagster/row_count": report.rows,
            "as_of": report.as_of.isoformat(),
            "min_coverage": config.min_coverage,
            "invalid_rows": report.invalid,
            "rows_by_source": dg.MetadataValue.json(report.by_source),
            "history_files": report.history_files,
            "stats_1h_files": report.stats_files,
        }
    )


@dg.asset(
    name="accumulated_funding",
    group_name="history",
    deps=["funding_rate_history"],
    pool="duckdb_ma",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("accumulated_funding"),
    freshness_policy=HOURLY,
)
def accumulated_funding(context: dg.AssetExecutionContext, config: MovingAverageSettings) -> dg.MaterializeResult:
    """Sum of settled funding rates per (venue, base asset) over the last 1d, 7d and 30d (the
    venue's primary market for the asset), with the number of prints."""
    current = settings()
    as_of = resolve_as_of(config.as_of)
    path = moving_averages.write_accumulated(current.warehouse, as_of)
    return dg.MaterializeResult(metadata={**settings_metadata(current), "as_of": as_of.isoformat(), "file": str(path)})


class ArbitrageWindowSettings(dg.Config):
    default_taker_fee: float = 0.0005
    taker_fees: dict[str, float] = Field(default_factory=dict)
    holding_days: float = 7.0


@dg.asset(
    name="funding_arbitrage_ma",
    group_name="history",
    deps=["funding_rate_ma", "funding_rate_history"],
    pool="duckdb_ma",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("funding_arbitrage_ma"),
    freshness_policy=HOURLY,
)
def funding_arbitrage_ma(context: dg.AssetExecutionContext, config: ArbitrageWindowSettings) -> dg.MaterializeResult:
    """The funding_arbitrage ranking per moving-average window (`period` = window): long the venue
    with the lowest valid MA APR, short the highest; `persistence` = in how many windows the same
    pair wins for the asset. Written to its own latest file, beside the live ranking."""
    current = settings()
    costs = moving_averages.ArbitrageCosts(config.default_taker_fee, dict(config.taker_fees), config.holding_days)
    path = moving_averages.write_arbitrage_ma(current.warehouse, costs)
    return dg.MaterializeResult(metadata={**settings_metadata(current), "file": str(path)})


class CandleSettings(dg.Config):
    symbols: list[str] = Field(default_factory=lambda: list(candles.DEFAULT_SYMBOLS))


@dg.asset(
    name="price_candles",
    group_name="history",
    partitions_def=CANDLE_DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb_candles",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    metadata=column_schema("price_candles"),
    freshness_policy=DAILY,
)
def price_candles(
    context: dg.AssetExecutionContext, config: CandleSettings, cryptocompare: CryptoCompare
) -> dg.MaterializeResult:
    """Daily OHLCV candles (UTC days, USD) of the configured symbols from CryptoCompare's
    histoday endpoint. A backfill runs once for its whole range, fetching and writing bounded
    batches of days; a rerun or an overlapping backfill replaces its (day, symbol) rows."""
    current = settings()
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    transport, sleep = cryptocompare.transport()
    report = candles.load_candles(
        current.warehouse,
        config.symbols,
        first,
        last,
        transport,
        api_key=cryptocompare.api_key,
        tsym=cryptocompare.tsym,
        batch_days=cryptocompare.batch_days,
        sleep=sleep,
    )
    for line in report.rejected[:5]:
        context.log.warning(f"candle rejected: {line}")
    return dg.MaterializeResult(
        metadata={
            **settings_metadata(current),
            "dagster/row_count": report.rows,
            "days": report.days,
            "batches": report.batches,
            "requests": report.requests,
            "symbols": ", ".join(config.symbols),
            "empty_days_skipped": report.skipped_empty,
            "rejected": len(report.rejected),
            "files": report.files,
        }
    )
