"""Canonical types every venue parser produces: rows, parse errors, results."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple


class IntervalSource(StrEnum):
    """Where a row's funding interval came from."""

    FIXED = "fixed"  # the venue's documented interval, written once in its SPEC
    MARKET_FIELD = "market_field"  # a field of this market in the payload
    DERIVED = "derived"  # computed, e.g. next funding time minus last funding time


class RateUnit(StrEnum):
    """How the venue writes the rate on the wire, before conversion to a decimal."""

    DECIMAL = "decimal"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class Venue:
    """Static description of a venue: the data ccxt keeps in `describe()`."""

    id: str
    base_url: str
    doc_url: str
    interval_hours: Decimal | None  # fixed interval, or None when every market states its own
    rate_unit: RateUnit
    oi_unit: str  # "base", "usd", "contracts": what the venue's open-interest field counts
    symbol_style: str  # example venue symbol, e.g. "BTC-USD-PERP"
    timeout_s: float = 8.0
    max_concurrency: int = 4  # parallel requests for venues that need one call per market
    min_interval_s: float = 0.0  # pacing between request starts
    # The venue's own bound on the per-hour rate where it publishes one venue-wide; None = the
    # project's sane cap (fields.MAX_ABS_RATE_1H). Per-market caps are not modelled.
    rate_cap_1h: Decimal | None = None


class ParseError(Exception):
    """A payload that does not match what the parser was written against."""

    def __init__(self, venue: str, endpoint: str, path: str, value: object, reason: str):
        self.venue, self.endpoint, self.path, self.value, self.reason = (
            venue,
            endpoint,
            path,
            value,
            reason,
        )
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{venue} {endpoint} {path}: {reason} (got {shown})")


class MarketRow(NamedTuple):
    """One perpetual market at one observation, in the venue's own units plus decimals.

    `funding_rate` is a decimal per `funding_interval_hours` (percent already divided by 100);
    `funding_rate_raw` is the exact text the venue published, `rate_unit` how to read it.
    A tuple: immutable, and `make_row` builds it in ~0.1 µs (a slotted dataclass: ~0.3 µs,
    frozen ~1 µs), once per market and slot.
    """

    exchange: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal | None
    funding_rate: Decimal
    funding_rate_raw: str
    rate_unit: RateUnit
    funding_interval_hours: Decimal
    interval_source: IntervalSource
    open_interest_base: Decimal | None
    open_interest_usd: Decimal | None
    volume_24h_usd: Decimal | None
    next_funding_at: datetime | None
    base_hint: str | None = None  # the venue's own base-asset field, when it has one
    # How often the market pays, when that differs from the period the rate is quoted for
    # (Lighter quotes per 8 h and pays hourly); None = every `funding_interval_hours`.
    settlement_interval_hours: Decimal | None = None


@dataclass(slots=True)
class ParseResult:
    """Rows that passed, rows rejected with their reason, and markets skipped on purpose."""

    rows: list[MarketRow] = field(default_factory=list)
    rejected: list[ParseError] = field(default_factory=list)
    skipped: int = 0  # delisted, inactive, spot, dated futures: counted, never guessed

    def extend(self, other: "ParseResult") -> None:
        self.rows.extend(other.rows)
        self.rejected.extend(other.rejected)
        self.skipped += other.skipped


@dataclass(frozen=True, slots=True)
class FundingPrint:
    """One settled (or, where the venue only publishes observations, observed) funding rate."""

    exchange: str
    symbol: str
    funding_time: datetime
    funding_rate: Decimal  # decimal per `funding_interval_hours`
    funding_rate_raw: str
    funding_interval_hours: Decimal
    interval_source: IntervalSource


@dataclass(slots=True)
class HistoryResult:
    prints: list[FundingPrint] = field(default_factory=list)
    rejected: list[ParseError] = field(default_factory=list)


class Exchange(NamedTuple):
    """A registered venue: its spec and the coroutine that polls all its markets once.

    `poll(http, observed_at)` takes a `lib.http.client.VenueHttp` and the slot time; it does the
    requests and hands the decoded payloads to the module's pure `parse_*` functions.
    """

    venue: Venue
    poll: Callable[[Any, datetime], Awaitable[ParseResult]]
    # history(http, start, end, symbols=None): settled prints with start <= funding_time < end,
    # every page fetched by the venue's own pagination rules; None when the venue has no
    # public history endpoint.
    history: Callable[..., Awaitable[HistoryResult]] | None = None
