"""Hand-built closed chunk files: exact `tracker_polls` / `market_snapshots` rows for tests."""

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from funding_pipeline.lib.snapshots import POLLS_SCHEMA, SNAPSHOT_SCHEMA
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import ChunkWriter

POLL_DEFAULTS = {"ok": True, "rows": 0, "latency_ms": 100.0, "rejected": 0, "skipped": 0, "requests": 1, "retries": 0}
SNAPSHOT_DEFAULTS = {
    "base_asset": "BTC",
    "contract_multiplier": 1.0,
    "mark_price": 100.0,
    "index_price": 100.0,
    "funding_rate": 0.0001,
    "funding_rate_raw": "0.0001",
    "rate_unit": "decimal",
    "funding_interval_hours": 8.0,
    "interval_source": "fixed",
    "settlement_interval_hours": 8.0,
    "funding_rate_1h": 0.0000125,
    "funding_apr": 0.1095,
}


def polls(*rows: dict) -> pa.Table:
    """`tracker_polls` rows; each needs `slot_at` and `exchange`, the rest defaults to a good poll."""
    return pa.Table.from_pylist([{**POLL_DEFAULTS, **r} for r in rows], schema=POLLS_SCHEMA)


def snapshots(*rows: dict) -> pa.Table:
    """`market_snapshots` rows; each needs `observed_at`, `exchange` and `symbol`."""
    return pa.Table.from_pylist([{**SNAPSHOT_DEFAULTS, **r} for r in rows], schema=SNAPSHOT_SCHEMA)


def write_chunk(warehouse: Path, start: datetime, *appends: tuple[pa.Table, pa.Table]) -> Path:
    """A closed chunk file at `start` holding the given (snapshots, polls) appends."""
    writer = ChunkWriter(layout.chunk_path(warehouse, start))
    for snaps, poll_rows in appends:
        writer.append(snaps, poll_rows)
    return writer.close()
