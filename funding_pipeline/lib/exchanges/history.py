"""What every venue's `history` does the same way: intervals from settlement spacing, page walking, merging.

Venue modules keep what differs: the request and its cursor, when a page is the last one, and
which interval rule their settlements follow. Plain Python; no HTTP here, `walk_pages` only
awaits the fetch function it is given.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple, TypeVar

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.fields import Ctx
from funding_pipeline.lib.exchanges.model import FundingPrint, HistoryResult, IntervalSource, ParseError

T = TypeVar("T")
Cursor = TypeVar("Cursor")
Interval = tuple[Decimal, IntervalSource]
Gap = Callable[[datetime, datetime], Decimal]
MINUTE_MS = 60_000

# -- the interval of a settled print: the time since the settlement before it -----------------


class Settlement(NamedTuple):
    """One history entry as published, before its interval is known."""

    ms: int
    rate: Decimal
    raw: str


def settled_prints(
    ctx: Ctx,
    symbol: str,
    settlements: Iterable[Settlement],
    fallback: Interval | None,
    start: datetime,
    end: datetime,
    *,
    max_hours: Decimal,
) -> HistoryResult:
    """Prints in [start, end), each with the time since the previous settlement as its interval.

    Times carry a few ms of jitter, so they are floored to the minute (which also de-duplicates:
    the last entry of a minute wins). The oldest print uses the gap to its successor; a lone print,
    or a gap beyond `max_hours` (a hole in the data), uses `fallback`, the market's current
    interval; without one the print is rejected at `<symbol>@<ms>` of `ctx`'s endpoint.
    """
    by_minute = {s.ms - s.ms % MINUTE_MS: s for s in settlements}
    times = sorted(by_minute)
    out = HistoryResult()
    for i, ms in enumerate(times):
        at = units.ms_to_utc(ms)
        if not start <= at < end:
            continue
        gap = ms - times[i - 1] if i else (times[1] - ms if len(times) > 1 else 0)
        hours = units.minutes_to_hours(Decimal(gap // MINUTE_MS))
        if 0 < hours <= max_hours:
            interval: Interval = (hours, IntervalSource.DERIVED)
        elif fallback is not None:
            interval = fallback
        else:
            where = Ctx(ctx.venue, ctx.endpoint, f"{symbol}@{ms}")
            out.rejected.append(where.error(gap, "no interval: no neighbour print"))
            continue
        s = by_minute[ms]
        out.prints.append(FundingPrint(ctx.venue, symbol, at, s.rate, s.raw, *interval))
    return out


def whole_minutes(earlier: datetime, later: datetime) -> Decimal:
    """Hours between two settlements, rounded to whole minutes (absorbs millisecond jitter)."""
    return units.minutes_to_hours(Decimal(round((later - earlier).total_seconds() / 60)))


def whole_seconds(earlier: datetime, later: datetime) -> Decimal:
    """Hours between two settlements, cut to whole seconds (venues stamping settlements in seconds)."""
    return units.seconds_to_hours(Decimal(int((later - earlier).total_seconds())))


def respace(prints: list[FundingPrint], *, oldest_takes_next: bool, gap: Gap = whole_minutes) -> list[FundingPrint]:
    """One market's prints, ascending and unique, each with the time since the print before as
    its interval (source DERIVED): a settled rate accrued over exactly that span.

    The oldest print has no predecessor: it takes the time to its successor when
    `oldest_takes_next`, else keeps the interval it was parsed with. A lone print keeps its own.
    """
    gaps = [gap(a.funding_time, b.funding_time) for a, b in pairwise(prints)]
    if not gaps:
        return list(prints)
    spans = [gaps[0] if oldest_takes_next else None, *gaps]
    return [
        p if h is None else replace(p, funding_interval_hours=h, interval_source=IntervalSource.DERIVED)
        for p, h in zip(prints, spans, strict=True)
    ]


# -- pages and markets ---------------------------------------------------------------------------


async def walk_pages(
    fetch: Callable[[Cursor], Awaitable[tuple[list[T], list[ParseError], Cursor | None]]],
    first: Cursor,
    *,
    max_pages: int,
    cap: Ctx | None = None,
    reject_bad_page: bool = True,
) -> tuple[list[T], list[ParseError]]:
    """One market's page chain: `fetch(cursor)` returns the page's entries, its rejected entries
    and the next cursor, None after the last page. Returns all entries and rejections in order.

    A page that does not parse as a whole ends the chain as a rejection, so one market's bad
    answer costs no other market (`reject_bad_page=False`: it fails the whole call instead).
    After `max_pages` the chain is cut; `cap` is where to report that, if anywhere.
    """
    entries: list[T] = []
    rejected: list[ParseError] = []
    cursor: Cursor | None = first
    for _ in range(max_pages):
        try:
            got, bad, cursor = await fetch(cursor)
        except ParseError as exc:
            if not reject_bad_page:
                raise
            rejected.append(exc)
            break
        entries += got
        rejected += bad
        if cursor is None:
            break
    else:
        if cap is not None:
            rejected.append(cap.error(max_pages, "page cap reached; history cut"))
    return entries, rejected


def older_page_from(prints: list[FundingPrint], *, page_limit: int, start: datetime) -> datetime | None:
    """Newest-first paging: the oldest time of this page, from which the next (older) page is
    asked; None when the page is short or empty, or has reached back before `start`."""
    oldest = min((p.funding_time for p in prints), default=None)
    if oldest is None or len(prints) < page_limit or oldest < start:
        return None
    return oldest


def unique_ascending(
    prints: Iterable[FundingPrint], start: datetime | None = None, end: datetime | None = None
) -> list[FundingPrint]:
    """One print per (symbol, funding_time), the first seen; ascending by time, then symbol;
    with `start` and `end`, only start <= funding_time < end."""
    found: dict[tuple[str, datetime], FundingPrint] = {}
    for p in prints:
        if (start is None or start <= p.funding_time) and (end is None or p.funding_time < end):
            found.setdefault((p.symbol, p.funding_time), p)
    return sorted(found.values(), key=lambda p: (p.funding_time, p.symbol))


def merge(parts: Iterable[HistoryResult], start: datetime, end: datetime) -> HistoryResult:
    """Per-market results as one: every rejection in order, `unique_ascending` prints in [start, end)."""
    out = HistoryResult()
    for part in parts:
        out.prints += part.prints
        out.rejected += part.rejected
    out.prints = unique_ascending(out.prints, start, end)
    return out
