"""Is an hour's collection still writing? Judged from the modification times of its chunk files.

A live collection run commits every slot (15 s) to its open chunk, which touches
`<MM>.duckdb.open.wal`; closing a chunk renames it and opens the next. So the newest mtime
among the hour's chunk files (closed, open and write-ahead log) is the run's heartbeat. Only
file metadata is read: an open chunk is never opened by anyone but its writer.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funding_pipeline.lib.polling import SLOT_SECONDS
from funding_pipeline.lib.storage import layout

# A run that wrote nothing for this many slots is presumed dead (2 minutes; a slot's own
# budget is 12 s, so a healthy run never comes close).
STALE_SLOTS = 8
CHUNK_FILE = re.compile(r"\d{2}\.duckdb(\.open(\.wal)?)?")


def last_write(warehouse: Path, hour: datetime) -> datetime | None:
    """Newest modification time among the hour's chunk files, or None when there are none."""
    folder = layout.chunk_path(warehouse, hour).parent
    if not folder.is_dir():
        return None
    newest = None
    for path in folder.iterdir():
        if not CHUNK_FILE.fullmatch(path.name):
            continue
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # renamed between listing and stat (a chunk closing)
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return None if newest is None else datetime.fromtimestamp(newest, UTC)


def open_chunks(warehouse: Path, hour: datetime) -> list[Path]:
    """The hour's chunks still under `<MM>.duckdb.open`."""
    starts = (hour + timedelta(minutes=5 * k) for k in range(12))
    return [p for p in (layout.open_chunk_path(warehouse, s) for s in starts) if p.exists()]


@dataclass(frozen=True)
class Verdict:
    dead: bool
    in_hour: bool  # `now` is inside the hour: a relaunch can still collect
    silent: timedelta  # since the newest of: hour start, collection start, last write
    last_write: datetime | None
    reason: str


def judge(
    hour: datetime,
    now: datetime,
    collecting_since: datetime,
    written_at: datetime | None,
    stale_slots: int = STALE_SLOTS,
) -> Verdict:
    """A run collecting `hour` since `collecting_since` (its collection step started) is dead
    when nothing was written for more than `stale_slots` slots. Waiting for its hour to begin
    is not silence: the clock starts at the hour at the earliest."""
    since = max(t for t in (hour, collecting_since, written_at) if t is not None)
    silent = max(timedelta(0), now - since)
    limit = timedelta(seconds=SLOT_SECONDS * stale_slots)
    dead = silent > limit
    last = f"last write {written_at:%H:%M:%S} UTC" if written_at else "no chunk file written"
    reason = (
        f"collection of {hour:%Y-%m-%d %H}:00 UTC wrote nothing for {silent.total_seconds():.0f} s "
        f"({last}; limit {stale_slots} slots = {limit.total_seconds():.0f} s)"
    )
    return Verdict(dead, hour <= now < hour + timedelta(hours=1), silent, written_at, reason)
