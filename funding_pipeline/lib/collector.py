"""The collection run for one hour: 240 slots, 12 chunk files, 1m aggregates per closed chunk.

Resumable: a relaunched run keeps closed chunks as they are, finishes an open chunk of a
past window, continues the current one at the next slot it does not hold, and leaves missed
slots as gaps in `tracker_polls` (no invented rows).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from funding_pipeline.lib.aggregates import write_stats_1m
from funding_pipeline.lib.clock import SimulatedClock, WallClock
from funding_pipeline.lib.exchanges.model import Exchange
from funding_pipeline.lib.http.breaker import Breaker
from funding_pipeline.lib.polling import SLOT_SECONDS, PollOutcome, TransportFactory, poll_slot
from funding_pipeline.lib.snapshots import polls_table, snapshots_table
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import ChunkWriter

CHUNK = timedelta(minutes=5)
SLOT = timedelta(seconds=SLOT_SECONDS)
# A slot may still be polled this late (a run launched a moment after HH:00:00); later = gap.
LATE_TOLERANCE = timedelta(seconds=5)


# The schedule launches a run a minute before its hour (Dagster's launch overhead is seconds);
# the run waits for HH:00:00. Earlier than this is a mistake, not a head start.
EARLY_START = timedelta(minutes=5)


class PastHourError(RuntimeError):
    """Live collection cannot observe the past."""


class EarlyStartError(RuntimeError):
    """A live run started too long before its hour."""


@dataclass
class VenueTally:
    slots_ok: int = 0
    slots_failed: int = 0
    rows: int = 0
    rejected: int = 0
    last_error: str | None = None


@dataclass
class CollectionReport:
    hour: datetime
    slots_polled: int = 0
    slots_resumed: int = 0  # already in an open chunk from an earlier attempt
    chunks_closed: list[str] = field(default_factory=list)
    chunks_kept: int = 0  # closed by an earlier attempt, left untouched
    max_jitter_ms: float = 0.0
    venues: dict[str, VenueTally] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.venues.values())

    def record(self, outcomes: list[PollOutcome]) -> None:
        for o in outcomes:
            tally = self.venues.setdefault(o.exchange, VenueTally())
            if o.ok:
                tally.slots_ok += 1
            else:
                tally.slots_failed += 1
                tally.last_error = o.error
            tally.rows += len(o.rows)
            tally.rejected += len(o.rejected)


def chunk_slots(start: datetime) -> list[datetime]:
    return [start + SLOT * i for i in range(int(CHUNK / SLOT))]


class FailureLog:
    """Logs a venue's failure (error) or rejected markets (warning) when it starts or changes,
    and when it clears; not every slot. The text is the poll's `tracker_polls.error`."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self.current: dict[str, tuple[bool, str] | None] = {}

    def observe(self, outcomes: list[PollOutcome]) -> None:
        for o in outcomes:
            previous = self.current.get(o.exchange)
            state = None if o.error is None else (o.ok, o.error)
            at = f"{o.slot_at:%H:%M:%S}"
            if state is not None and state != previous:
                if o.ok:
                    self.log.warning("%s at %s: %s", o.exchange, at, o.error)
                else:
                    self.log.error("%s failed at %s: %s", o.exchange, at, o.error)
            elif state is None and previous is not None:
                self.log.info("%s recovered at %s", o.exchange, at)
            self.current[o.exchange] = state


def finish_chunk(warehouse, writer: ChunkWriter, start: datetime) -> None:
    """Close a chunk and write its 1-minute aggregates (the one way a chunk is finished)."""
    closed = writer.close()
    write_stats_1m(warehouse, closed, start, start + CHUNK)


def finish_open_chunks(warehouse, hour: datetime) -> list[str]:
    """Close every `<MM>.duckdb.open` of the hour as it is, with its 1m aggregates; returns `HH:MM`s."""
    closed = []
    for k in range(12):
        start = hour + CHUNK * k
        if layout.open_chunk_path(warehouse, start).exists() and not layout.chunk_path(warehouse, start).exists():
            finish_chunk(warehouse, ChunkWriter(layout.chunk_path(warehouse, start)), start)
            closed.append(f"{start:%H:%M}")
    return closed


async def collect_hour(
    hour: datetime,
    *,
    warehouse,
    exchanges: list[Exchange],
    transports: TransportFactory,
    clock: WallClock | SimulatedClock,
    log: logging.Logger,
) -> CollectionReport:
    if not clock.simulated and hour + timedelta(hours=1) <= clock.now():
        # A run that died in its hour left its chunk open: close it first, so its rows and
        # their 1-minute aggregates are not stranded, then refuse the hour.
        closed = finish_open_chunks(warehouse, hour)
        saved = f"; closed the open chunk(s) {', '.join(closed)} left by an earlier attempt" if closed else ""
        raise PastHourError(
            f"live collection cannot collect the past hour {hour:%Y-%m-%d %H}:00 UTC{saved}; "
            "use FUNDING_SOURCE=replay with FUNDING_CLOCK=simulated to build history"
        )
    if not clock.simulated and clock.now() < hour - EARLY_START:
        raise EarlyStartError(
            f"live collection of {hour:%Y-%m-%d %H}:00 UTC started at {clock.now():%H:%M:%S}, more than "
            f"{EARLY_START.total_seconds() / 60:.0f} minutes before its hour; launch it at most that early"
        )
    report = CollectionReport(hour)
    breakers = {e.venue.id: Breaker() for e in exchanges}
    failures = FailureLog(log)
    for k in range(12):
        start = hour + CHUNK * k
        end = start + CHUNK
        final = layout.chunk_path(warehouse, start)
        if final.exists():
            report.chunks_kept += 1
            write_stats_1m(warehouse, final, start, end)  # idempotent; heals a crash between the two
            continue
        has_open = layout.open_chunk_path(warehouse, start).exists()
        if end <= clock.now() - LATE_TOLERANCE and not has_open:
            continue  # a window nobody polled: its slots are gaps
        writer = ChunkWriter(final)
        try:
            done = writer.slots()
            report.slots_resumed += len(done)
            for slot in chunk_slots(start):
                if slot in done or slot < clock.now() - LATE_TOLERANCE:
                    continue
                await clock.sleep_until(slot)
                jitter_ms = max(0.0, (clock.now() - slot).total_seconds() * 1000)
                outcomes = await poll_slot(
                    exchanges, slot, int(slot.timestamp()) // SLOT_SECONDS, transports, breakers, clock.sleep
                )
                writer.append(snapshots_table(outcomes), polls_table(outcomes, jitter_ms))
                failures.observe(outcomes)
                report.record(outcomes)
                report.slots_polled += 1
                report.max_jitter_ms = max(report.max_jitter_ms, jitter_ms)
        except BaseException:
            writer.abandon()
            raise
        finish_chunk(warehouse, writer, start)
        report.chunks_closed.append(f"{start:%H:%M}")
    return report


def run_collect_hour(hour: datetime, **kwargs) -> CollectionReport:
    async def run() -> CollectionReport:
        try:
            return await collect_hour(hour, **kwargs)
        finally:
            closer = getattr(kwargs["transports"], "aclose", None)
            if closer is not None:  # live transports keep connections open for the whole run
                await closer()

    return asyncio.run(run())
