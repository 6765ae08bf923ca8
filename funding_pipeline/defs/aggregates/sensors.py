import dagster as dg

from funding_pipeline.defs.aggregates.partitions import CLOSED_HOURS

stats_1h_job = dg.define_asset_job(
    "stats_1h_job",
    selection=dg.AssetSelection.assets("market_stats_1h"),
    partitions_def=CLOSED_HOURS,
    description="Rolls one closed hour of 1-minute rows into market_stats_1h.",
)


@dg.asset_sensor(
    asset_key=dg.AssetKey("market_stats_1m"),
    job=stats_1h_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def stats_1h_when_hour_closes(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """A collection run materializes market_stats_1m for its hour when the hour's last chunk
    has closed: that is the moment to build the hour's 1h rows."""
    partition = asset_event.dagster_event.partition
    if partition is None or not CLOSED_HOURS.has_partition_key(partition):
        return dg.SkipReason(f"hour {partition} has not closed yet")
    return dg.RunRequest(run_key=f"stats_1h:{partition}:{asset_event.run_id}", partition_key=partition)
