import dagster as dg

from funding_pipeline.defs.ingest.partitions import COLLECTION_HOURS

collection_job = dg.define_asset_job(
    "collection_job",
    selection=dg.AssetSelection.assets("market_snapshots", "tracker_polls", "market_stats_1m"),
    partitions_def=COLLECTION_HOURS,
    description="One run per hour polls every venue 240 times and writes 12 chunk files.",
    # Run monitoring (dagster.yaml) kills a run past this; run retries relaunch the hour,
    # which resumes at the current slot.
    tags={"dagster/max_runtime": 3900},
)

collection_schedule = dg.build_schedule_from_partitioned_job(
    collection_job,
    name="collection_hourly",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
