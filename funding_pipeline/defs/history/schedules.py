from datetime import UTC, datetime, timedelta

import dagster as dg

from funding_pipeline.defs.history.partitions import CANDLE_DAYS, HISTORY_EXCHANGES, HISTORY_PARTITIONS

HISTORY_JOB = "funding_history_job"
CANDLES_JOB = "price_candles_job"
MA_JOB = "funding_ma_job"

funding_history_job = dg.define_asset_job(
    HISTORY_JOB,
    selection=dg.AssetSelection.assets("funding_rate_history"),
    partitions_def=HISTORY_PARTITIONS,
    description="Settled prints of one venue and day (partition '<YYYY-MM-DD>|<exchange>').",
)

price_candles_job = dg.define_asset_job(
    CANDLES_JOB,
    selection=dg.AssetSelection.assets("price_candles"),
    partitions_def=CANDLE_DAYS,
    description="Daily OHLCV candles from CryptoCompare.",
)

funding_ma_job = dg.define_asset_job(
    MA_JOB,
    selection=dg.AssetSelection.assets("funding_rate_ma", "accumulated_funding", "funding_arbitrage_ma"),
    description="Moving averages, accumulated funding and the per-window arbitrage ranking as of the last full hour.",
)


def _yesterday(context: dg.ScheduleEvaluationContext) -> str:
    at = context.scheduled_execution_time or datetime.now(UTC)
    return (at.astimezone(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


@dg.schedule(
    name="funding_history_daily",
    job=funding_history_job,
    cron_schedule="20 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def funding_history_daily(context: dg.ScheduleEvaluationContext):
    """After midnight UTC: one run per venue for the day that just closed (a venue's failure is
    its own run's)."""
    day = _yesterday(context)
    for exchange in HISTORY_EXCHANGES.get_partition_keys():
        key = dg.MultiPartitionKey({"date": day, "exchange": exchange})
        yield dg.RunRequest(run_key=f"history:{key}", partition_key=key)


@dg.schedule(
    name="price_candles_daily",
    job=price_candles_job,
    cron_schedule="10 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def price_candles_daily(context: dg.ScheduleEvaluationContext):
    """After midnight UTC: the candle of the day that just closed."""
    day = _yesterday(context)
    return dg.RunRequest(run_key=f"candles:{day}", partition_key=day)


funding_ma_hourly = dg.ScheduleDefinition(
    name="funding_ma_hourly",
    job=funding_ma_job,
    cron_schedule="15 * * * *",  # after the hour's 1h aggregates (built when the hour closes)
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
