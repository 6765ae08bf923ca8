from datetime import timedelta

import dagster as dg

from funding_pipeline.defs.ingest.partitions import COLLECTION_HOURS
from funding_pipeline.defs.metadata import (
    OWNERS,
    column_schema,
    enabled_exchange_ids,
    settings,
    settings_metadata,
)
from funding_pipeline.lib.clock import SimulatedClock, WallClock
from funding_pipeline.lib.collector import run_collect_hour
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.polling import LiveTransports, replay_transports

# The collection run materializes its hour when the hour ends: older than two hours = stalled.
HOURLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(minutes=75))


def _specs() -> list[dg.AssetSpec]:
    # Built in a function: module-level AssetSpecs would be loaded as separate assets.
    snapshots = dg.AssetSpec(
        "market_snapshots",
        description="Every market of every enabled venue, snapshotted at HH:MM:00/15/30/45 (raw rows, "
        "rates as published plus per-hour and APR). One DuckDB chunk file per 5 minutes.",
        group_name="ingest",
        owners=OWNERS,
        kinds={"duckdb", "python"},
        metadata=column_schema("market_snapshots"),
        freshness_policy=HOURLY,
    )
    polls = dg.AssetSpec(
        "tracker_polls",
        description="One row per venue and slot: did it answer, how many rows, latency, the error. "
        "Slots missing here were never polled (gaps), never invented.",
        group_name="ingest",
        owners=OWNERS,
        kinds={"duckdb"},
        metadata=column_schema("tracker_polls"),
        freshness_policy=HOURLY,
    )
    stats_1m = dg.AssetSpec(
        "market_stats_1m",
        description="1-minute buckets of each market, written as soon as a 5-minute chunk closes: "
        "mark-price OHLC, avg/min/max per-hour rate, last open interest and volume.",
        group_name="aggregates",
        owners=OWNERS,
        kinds={"duckdb"},
        deps=["market_snapshots"],
        metadata=column_schema("market_stats_1m"),
        freshness_policy=HOURLY,
    )
    return [snapshots, polls, stats_1m]


@dg.multi_asset(
    specs=_specs(),
    partitions_def=COLLECTION_HOURS,
    pool="duckdb_ingest",
    op_tags={"dagster/max_runtime": 3900},
)
def collection_hour(context: dg.AssetExecutionContext):
    """Polls all enabled venues every 15 s through the partition's hour (resumable)."""
    current = settings()
    hour = context.partition_time_window.start
    registry = all_exchanges()
    exchanges = [registry[e] for e in enabled_exchange_ids(current)]
    replay = current.source == "replay"
    report = run_collect_hour(
        hour,
        warehouse=current.warehouse,
        exchanges=exchanges,
        transports=replay_transports(current.replay_dir) if replay else LiveTransports(),
        clock=SimulatedClock(hour) if current.clock == "simulated" else WallClock(),
        log=context.log,
    )
    common = settings_metadata(current)
    per_venue = {
        e: {"ok": t.slots_ok, "failed": t.slots_failed, "rows": t.rows, "rejected": t.rejected}
        for e, t in sorted(report.venues.items())
    }
    failing = {e: t.last_error for e, t in report.venues.items() if t.last_error}
    yield dg.MaterializeResult(
        asset_key="market_snapshots",
        metadata={
            **common,
            "dagster/row_count": report.rows,
            "slots_polled": report.slots_polled,
            "slots_resumed": report.slots_resumed,
            "chunks_closed": len(report.chunks_closed),
            "chunks_kept": report.chunks_kept,
            "max_jitter_ms": report.max_jitter_ms,
            "per_venue": dg.MetadataValue.json(per_venue),
        },
    )
    yield dg.MaterializeResult(
        asset_key="tracker_polls",
        metadata={**common, "venues": len(exchanges), "last_errors": dg.MetadataValue.json(failing)},
    )
    yield dg.MaterializeResult(asset_key="market_stats_1m", metadata=common)
