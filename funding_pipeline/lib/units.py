"""Every unit conversion of the project, in Decimal, so a rate is never annualized twice.

Rates are decimals per stated interval (0.0001 = 0.01 %). Venues publish per-hour, per-8h,
per-N-minutes and percent values; parsers call these functions instead of doing arithmetic.
"""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

HOURS_PER_YEAR = Decimal(24 * 365)
PERCENT = Decimal(100)
MINUTES_PER_HOUR = Decimal(60)
SECONDS_PER_HOUR = Decimal(3600)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_decimal(value: object) -> Decimal:
    """Parse a wire number (string, int or float) without float rounding; raise ValueError."""
    kind = type(value)
    if kind is str or kind is Decimal or kind is int:  # the hot path: every field of every market
        try:
            out = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
        if out.is_finite():
            return out
        raise ValueError(f"not finite: {value!r}")
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not finite: {value!r}")
        value = repr(value)
    try:
        out = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"not finite: {value!r}")
    return out


def percent_to_decimal(rate_percent: Decimal) -> Decimal:
    return rate_percent / PERCENT


def minutes_to_hours(minutes: Decimal) -> Decimal:
    return minutes / MINUTES_PER_HOUR


def seconds_to_hours(seconds: Decimal) -> Decimal:
    return seconds / SECONDS_PER_HOUR


def rate_1h(rate: Decimal, interval_hours: Decimal) -> Decimal:
    """Per-hour rate from a rate paid every `interval_hours`."""
    if interval_hours <= 0:
        raise ValueError(f"funding interval must be positive, got {interval_hours}")
    return rate / interval_hours


def rate_8h(rate_per_hour: Decimal) -> Decimal:
    return rate_per_hour * 8


def apr(rate_per_hour: Decimal) -> Decimal:
    """Simple (non-compounded) annual rate from a per-hour rate."""
    return rate_per_hour * HOURS_PER_YEAR


def utc_to_ms(at: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exact (no float); naive times are rejected."""
    return _since_epoch(at) // timedelta(milliseconds=1)


def utc_to_s(at: datetime) -> int:
    """Epoch seconds of an aware datetime, sub-second part cut; naive times are rejected."""
    return _since_epoch(at) // timedelta(seconds=1)


def _since_epoch(at: datetime) -> timedelta:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: times are UTC")
    return at - EPOCH


# Cached: most markets of a venue share their next settlement time, and every slot asks again.
@lru_cache(maxsize=4096)
def ms_to_utc(ms: int | Decimal) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ms))


@lru_cache(maxsize=4096)
def s_to_utc(seconds: int | Decimal) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


@lru_cache(maxsize=4096)
def ns_to_utc(ns: int | Decimal) -> datetime:
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def iso_to_utc(text: str) -> datetime:
    """ISO-8601 with `Z` or an offset; naive times are rejected rather than guessed."""
    out = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if out.tzinfo is None:
        raise ValueError(f"timestamp without timezone: {text!r}")
    return out.astimezone(UTC)


def next_boundary(at: datetime, interval_hours: Decimal) -> datetime:
    """Next settlement for venues that settle on fixed UTC boundaries and publish no time."""
    step = int(Decimal(3600) * interval_hours)
    epoch = int(at.timestamp())
    return datetime.fromtimestamp((epoch // step + 1) * step, UTC)


# The same conversions as SQL expressions over the contract's column names, for set-based
# steps in DuckDB; `test_units.py` checks they agree with the Decimal functions above.
SQL_RATE_1H = "(funding_rate / funding_interval_hours)"
SQL_RATE_8H = "(8 * funding_rate_1h)"
SQL_APR = "(funding_rate_1h * 8760)"
