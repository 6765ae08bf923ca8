"""Latest health per venue from the recent closed chunks' `tracker_polls`.

The answer to "it says running but writes nothing": an enabled venue with no polls at all
still gets a row, with nulls where nothing happened.
"""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import insert_arrow, write_atomic
from funding_pipeline.lib.storage.schemas import TRACKER_STATUS
from funding_pipeline.warehouse import connect_files

LOOKBACK = timedelta(hours=6)

STATUS_SELECT = """
WITH enabled AS (SELECT unnest(?::VARCHAR[]) AS exchange),
polls AS (SELECT * FROM tracker_polls WHERE slot_at >= ?),
last_slot AS (SELECT max(slot_at) AS at FROM polls),
per_venue AS (
    SELECT exchange,
           max(slot_at) AS last_slot_at,
           max(slot_at) FILTER (WHERE ok AND rows > 0) AS last_success_at,
           max(slot_at) FILTER (WHERE NOT ok OR rows = 0) AS last_error_at,
           arg_max(coalesce(error, 'answered with no rows'), slot_at) FILTER (WHERE NOT ok OR rows = 0)
               AS last_error,
           arg_max(rows, slot_at) AS rows_last_slot
    FROM polls GROUP BY exchange
),
recent AS (
    SELECT exchange,
           count(*) FILTER (WHERE ok AND rows > 0) AS slots_ok_last_hour,
           count(*) AS slots_last_hour
    FROM polls, last_slot WHERE slot_at > last_slot.at - INTERVAL 1 HOUR
    GROUP BY exchange
)
SELECT e.exchange, true AS enabled, v.last_slot_at, v.last_success_at, v.last_error_at, v.last_error,
       (SELECT count(*) FROM polls p
         WHERE p.exchange = e.exchange AND (NOT p.ok OR p.rows = 0)
           AND p.slot_at > coalesce(v.last_success_at, '-infinity'::TIMESTAMPTZ))::INTEGER AS consecutive_failures,
       coalesce(r.slots_ok_last_hour, 0)::INTEGER AS slots_ok_last_hour,
       coalesce(r.slots_last_hour, 0)::INTEGER AS slots_last_hour,
       v.rows_last_slot::INTEGER AS rows_last_slot,
       CAST(? AS TIMESTAMPTZ) AS computed_at
FROM enabled e LEFT JOIN per_venue v USING (exchange) LEFT JOIN recent r USING (exchange)
ORDER BY e.exchange
"""


def recent_chunks(warehouse: Path, now: datetime) -> list[Path]:
    start = now - LOOKBACK
    chunks = []
    for path in layout.KINDS[0].files(warehouse):
        day, hour, name = path.parts[-3:]
        at = datetime.strptime(f"{day} {hour}:{name[:2]}", "%Y-%m-%d %H:%M").replace(tzinfo=now.tzinfo)
        if at + timedelta(minutes=5) > start and at <= now:
            chunks.append(path)
    return chunks


def tracker_status(warehouse: Path, enabled: list[str], now: datetime) -> pa.Table:
    chunks = recent_chunks(warehouse, now)
    with connect_files({"tracker_polls": chunks}) as con:
        return con.execute(STATUS_SELECT, [enabled, now - LOOKBACK, now]).fetch_arrow_table()


def write_tracker_status(warehouse: Path, enabled: list[str], now: datetime) -> tuple[Path, pa.Table]:
    table = tracker_status(warehouse, enabled, now)

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        insert_arrow(con, TRACKER_STATUS, table)

    return write_atomic(layout.latest_path(warehouse, "tracker_status"), [TRACKER_STATUS], fill), table
