"""Field access that names the venue, endpoint, JSON path and raw value on every failure.

Nothing here returns a placeholder for a required field: a missing mark price is an error,
not a zero. `market_rows` decides the three tiers once: a bad envelope raises (the venue's
poll fails), a bad market is rejected and counted, a market the parser skips is counted.
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import compress, repeat
from operator import eq, itemgetter, mul, truediv
from typing import Any, NamedTuple, TypeVar

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges.model import (
    FundingPrint,
    HistoryResult,
    IntervalSource,
    MarketRow,
    ParseError,
    ParseResult,
    RateUnit,
    Venue,
)

# A per-hour rate beyond 5 % is no market state any venue allows (Hyperliquid caps at 4 %/h);
# such a value is a unit error upstream or in the parser.
MAX_ABS_RATE_1H = Decimal("0.05")

_tuple_new = tuple.__new__  # NamedTuple's generated __new__ is a Python function: 3x slower
_ZERO = Decimal(0)  # Decimal against Decimal compares 3x faster than against int 0
_rate_caps: dict[Decimal, Decimal] = {}  # interval -> largest allowed |rate| for that interval


class Ctx(NamedTuple):
    """Where in which payload a parser is, for error messages.

    A tuple made once per market; the JSON path text is only built when an error needs it.
    """

    venue: str
    endpoint: str
    parent: "Ctx | str" = "$"
    part: str | int | None = None

    @property
    def path(self) -> str:
        base = self.parent if isinstance(self.parent, str) else self.parent.path
        if self.part is None:
            return base
        return f"{base}[{self.part}]" if isinstance(self.part, int) else f"{base}.{self.part}"

    def at(self, part: str | int) -> "Ctx":
        return _tuple_new(Ctx, (self.venue, self.endpoint, self, part))

    def error(self, value: object, reason: str) -> ParseError:
        return ParseError(self.venue, self.endpoint, self.path, value, reason)


def req_dict(value: Any, ctx: Ctx) -> dict:
    if not isinstance(value, dict):
        raise ctx.error(value, f"expected an object, got {type(value).__name__}")
    return value


def req_list(value: Any, ctx: Ctx) -> list:
    if not isinstance(value, list):
        raise ctx.error(value, f"expected an array, got {type(value).__name__}")
    return value


def req(obj: dict, key: str, ctx: Ctx) -> Any:
    value = obj.get(key)
    if value is None:
        raise ctx.at(key).error(None, "required field missing")
    return value


def req_str(obj: dict, key: str, ctx: Ctx) -> str:
    value = obj.get(key)
    if type(value) is str and value:
        return value
    if value is None:
        raise ctx.at(key).error(None, "required field missing")
    if not isinstance(value, str) or not value:
        raise ctx.at(key).error(value, "expected a non-empty string")
    return value


def req_decimal(obj: dict, key: str, ctx: Ctx) -> Decimal:
    value = obj.get(key)
    kind = type(value)
    if kind is str or kind is Decimal:  # units.to_decimal's fast path, inlined: ~5 fields per market
        try:
            out = Decimal(value)
            if out.is_finite():
                return out
        except InvalidOperation:
            pass
    elif kind is int:  # not bool: units.to_decimal refuses it
        return Decimal(value)
    if value is None:
        raise ctx.at(key).error(None, "required field missing")
    try:
        return units.to_decimal(value)
    except ValueError as exc:
        raise ctx.at(key).error(value, str(exc)) from None


def opt_decimal(obj: dict, key: str, ctx: Ctx) -> Decimal | None:
    """An optional number: absent, null or "" is None; anything else must parse."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if type(value) is str:  # the common case, as in req_decimal
        try:
            out = Decimal(value)
            if out.is_finite():
                return out
        except InvalidOperation:
            pass
    return req_decimal(obj, key, ctx)


def req_int(obj: dict, key: str, ctx: Ctx) -> int:
    value = obj.get(key)
    kind = type(value)
    if kind is int:  # JSON integers decode as int: nothing to check
        return value
    if kind is str and value.isascii() and value.isdigit():  # integers sent as text (OKX ids, ms)
        return int(value)
    number = req_decimal(obj, key, ctx)
    if number != number.to_integral_value():
        raise ctx.at(key).error(obj[key], "expected an integer")
    return int(number)


def opt_time(obj: dict, key: str, ctx: Ctx, convert: Callable[[Any], datetime]) -> datetime | None:
    """An optional timestamp; `convert` is one of the `units.*_to_utc` functions."""
    value = obj.get(key)
    if value is None or value == "" or value == 0 or value == "0":
        return None
    try:
        # JSON ints go to `convert` as they are (it takes int or Decimal; both give the same time).
        number = value if convert is units.iso_to_utc or type(value) is int else units.to_decimal(value)
        return convert(number)
    except (ValueError, OverflowError) as exc:
        raise ctx.at(key).error(value, f"bad timestamp: {exc}") from None


def make_row(
    venue: Venue,
    ctx: Ctx,
    *,
    symbol: str,
    mark_price: Decimal,
    index_price: Decimal | None,
    rate: Decimal,
    rate_raw: object,
    interval_hours: Decimal | None = None,
    interval_source: IntervalSource | None = None,
    open_interest_base: Decimal | None = None,
    open_interest_usd: Decimal | None = None,
    volume_24h_usd: Decimal | None = None,
    next_funding_at: datetime | None = None,
    base_hint: str | None = None,
    settlement_interval_hours: Decimal | None = None,
) -> MarketRow:
    """The one place a row is assembled: unit conversion, OI completion and sanity checks.

    `rate` is the number as published (percent venues pass the percent); the interval defaults
    to the venue's fixed one. Open interest given in one unit is completed in the other at the
    mark price.
    """
    if interval_hours is None:
        if venue.interval_hours is None:
            raise ctx.error(None, "venue has no fixed interval and the market states none")
        interval_hours, interval_source = venue.interval_hours, IntervalSource.FIXED
    if interval_source is None:
        raise ctx.error(interval_hours, "interval given without its source")
    if interval_hours <= _ZERO:
        raise ctx.error(interval_hours, "funding interval must be positive")
    if mark_price <= _ZERO:
        raise ctx.error(mark_price, "mark price must be positive")
    if index_price is not None and index_price <= _ZERO:
        raise ctx.error(index_price, "index price must be positive")
    decimal_rate = checked_rate(ctx, rate, rate_raw, interval_hours, venue.rate_unit)
    if open_interest_base is not None and open_interest_base < _ZERO:
        raise ctx.error(open_interest_base, "open_interest_base must not be negative")
    if open_interest_usd is not None and open_interest_usd < _ZERO:
        raise ctx.error(open_interest_usd, "open_interest_usd must not be negative")
    if volume_24h_usd is not None and volume_24h_usd < _ZERO:
        raise ctx.error(volume_24h_usd, "volume_24h_usd must not be negative")
    if open_interest_usd is None and open_interest_base is not None:
        open_interest_usd = open_interest_base * mark_price
    elif open_interest_base is None and open_interest_usd is not None:
        open_interest_base = open_interest_usd / mark_price
    return _tuple_new(  # MarketRow's fields in order, without NamedTuple's Python-level __new__
        MarketRow,
        (
            venue.id,
            symbol,
            mark_price,
            index_price,
            decimal_rate,
            str(rate_raw),
            venue.rate_unit,
            interval_hours,
            interval_source,
            open_interest_base,
            open_interest_usd,
            volume_24h_usd,
            next_funding_at,
            base_hint,
            settlement_interval_hours,
        ),
    )


def checked_rate(ctx: Ctx, rate: Decimal, rate_raw: object, interval_hours: Decimal, unit: RateUnit) -> Decimal:
    """The published rate as a decimal (percent divided by 100), refused beyond the per-hour cap."""
    decimal_rate = units.percent_to_decimal(rate) if unit is RateUnit.PERCENT else rate
    # |rate| / interval > cap, compared as |rate| > cap x interval: exact, and no division per market.
    cap = _rate_caps.get(interval_hours)
    if cap is None:
        if interval_hours <= _ZERO:
            raise ValueError(f"funding interval must be positive, got {interval_hours}")
        if len(_rate_caps) > 1000:  # derived intervals can take many values
            _rate_caps.clear()
        cap = _rate_caps[interval_hours] = MAX_ABS_RATE_1H * interval_hours
    if abs(decimal_rate) > cap:
        raise ctx.error(rate_raw, f"funding rate beyond the sane cap of {MAX_ABS_RATE_1H}/h")
    return decimal_rate


def make_print(
    venue: Venue,
    ctx: Ctx,
    *,
    symbol: str,
    funding_time: datetime,
    rate: Decimal,
    rate_raw: object,
    interval_hours: Decimal,
    interval_source: IntervalSource,
    rate_unit: RateUnit | None = None,
) -> FundingPrint:
    """A settled print with the checks `make_row` applies: positive interval, percent conversion, rate cap.

    `rate` is the number as published, in `rate_unit` (default: the venue's); errors name `ctx`,
    so pass the path of the rate field when the row has one.
    """
    if interval_hours <= _ZERO:
        raise ctx.error(interval_hours, "funding interval must be positive")
    decimal_rate = checked_rate(ctx, rate, rate_raw, interval_hours, rate_unit or venue.rate_unit)
    return FundingPrint(venue.id, symbol, funding_time, decimal_rate, str(rate_raw), interval_hours, interval_source)


T = TypeVar("T")


def each_entry(
    items: Iterable[tuple[str | int, Any]], ctx: Ctx, parse_one: Callable[[Any, Ctx], T | None]
) -> tuple[list[T], list[ParseError], int]:
    """Parse each entry on its own: (parsed, rejected with their paths, number skipped by `None`)."""
    parsed: list[T] = []
    rejected: list[ParseError] = []
    skipped = 0
    for key, item in items:
        item_ctx = ctx.at(key)
        try:
            out = parse_one(item, item_ctx)
        except ParseError as exc:
            rejected.append(exc)
            continue
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError) as exc:
            rejected.append(item_ctx.error(item, f"{type(exc).__name__}: {exc}"))
            continue
        if out is None:
            skipped += 1
        else:
            parsed.append(out)
    return parsed, rejected, skipped


def listed(items: list, ctx: Ctx, name_key: str, field: str, wanted: str) -> tuple[list[dict], ParseResult]:
    """The entries of a market listing whose `field` is `wanted`, the others counted as skipped;
    an entry that is not an object or lacks its name `name_key` is rejected with its path."""

    def fast() -> tuple[list[dict], ParseResult]:
        strings(column(dicts(items), name_key))
        kept = list(compress(items, map(eq, opt_column(items, field), repeat(wanted))))
        return kept, ParseResult(skipped=len(items) - len(kept))

    return batched(fast, lambda: _listed_each(items, ctx, name_key, field, wanted))


def _listed_each(items: list, ctx: Ctx, name_key: str, field: str, wanted: str) -> tuple[list[dict], ParseResult]:
    kept, outcome = [], ParseResult()
    for i, item in enumerate(items):
        try:
            req_str(req_dict(item, ctx.at(i)), name_key, ctx.at(i))
        except ParseError as exc:
            outcome.rejected.append(exc)
            continue
        if item.get(field) == wanted:
            kept.append(item)
        else:
            outcome.skipped += 1
    return kept, outcome


def market_rows(
    items: Iterable[tuple[str | int, Any]],
    ctx: Ctx,
    parse_one: Callable[[Any, Ctx], MarketRow | None],
) -> ParseResult:
    """Parse each market on its own: a bad one is rejected with its path, `None` means skipped."""
    return ParseResult(*each_entry(items, ctx, parse_one))


def history_rows(
    items: Iterable[tuple[str | int, Any]],
    ctx: Ctx,
    parse_one: Callable[[Any, Ctx], FundingPrint | None],
) -> HistoryResult:
    """Parse each history entry on its own: a bad one is rejected with its path, `None` is left out."""
    prints, rejected, _ = each_entry(items, ctx, parse_one)
    return HistoryResult(prints, rejected)


# Batched fast path. A venue's payload is first parsed column-wise: each field of every market
# taken in one pass, converted and checked in bulk, rows built without per-field calls. Anything
# off (a missing field, a non-number, NaN/inf, a non-positive price, a rate near the cap) raises
# `Slow`, and the whole payload goes through the per-market path instead, so values, rejections
# and their JSON paths are exactly those of `market_rows`. The checks here may refuse more than
# the per-market path does; they must never accept more.


class Slow(Exception):
    """The batch is not plain: parse it market by market."""


_SLOW_ERRORS = (Slow, ValueError, KeyError, TypeError, ArithmeticError, AttributeError, IndexError)
_NUMBER = frozenset((str, int))  # what req_decimal takes without a second look (not bool, not float)
_OPT_NUMBER = frozenset((str, int, type(None)))
FAST_PATH = True  # tests switch it off to compare both paths on the same payloads


def batched(fast: Callable[[], T], slow: Callable[[], T]) -> T:
    """`fast()` when it succeeds, else `slow()` (the per-market path, which names every error)."""
    if FAST_PATH:
        try:
            return fast()
        except _SLOW_ERRORS:
            pass
    return slow()


def column(items: list, key: str | int) -> list:
    """`item[key]` of every item; a missing key raises (KeyError: the batch goes slow). Of the
    decoded JSON values only an object takes a `str` key, so a column read proves every item is one."""
    return list(map(itemgetter(key), items))


def columns(items: list, *keys: str) -> list[list]:
    """`item.get(key)` for several keys, one pass per key (C speed while every item has the
    key; measured faster than one visit per item). A required key's None is refused by the
    converter that reads the column (`decimals`, `strings`, `ints`)."""
    if not items:
        raise Slow
    return [opt_column(items, key) for key in keys]


def opt_column(items: list, key: str) -> list:
    """`item.get(key)` of every item (C speed while every item has the key)."""
    try:
        return list(map(itemgetter(key), items))
    except KeyError:
        return [item.get(key) for item in items]


def distinct(values: list) -> list:
    """The distinct values of a column that holds few (funding periods), to convert each once.
    Every value's type is checked first, as opt_decimals would: 1 and True are one key."""
    if not set(map(type, values)) <= _OPT_NUMBER:
        raise Slow
    return list(set(values))


def by_value(values: list, convert: Callable[[list], list]) -> dict:
    """value -> `convert`ed value for a column of few distinct values (intervals, periods), so
    each is converted once; look the column up in it."""
    found = distinct(values)
    return dict(zip(found, convert(found), strict=True))


def dicts(items: list) -> list[dict]:
    if not set(map(type, items)) <= {dict}:
        raise Slow
    return items


def strings(values: list) -> list[str]:
    """Non-empty strings, as req_str wants them."""
    if not set(map(type, values)) <= {str} or not all(values):
        raise Slow
    return values


def ints(values: list) -> list[int]:
    """Integers as req_int reads them first: JSON integers or ASCII digit strings."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return values
    if not kinds <= _NUMBER:
        raise Slow
    text = "".join(values) if kinds == {str} else "".join([v for v in values if type(v) is str])
    if not (text.isascii() and text.isdigit()):  # every string all ASCII digits ("" fails int())
        raise Slow
    return list(map(int, values))


def finite_text(values: list, kinds: set[type]) -> None:
    """Refuse NaN and infinities among the strings of a number column by their text: every
    spelling Decimal accepts for them holds an "n", no finite number does. Cheaper than
    comparing the Decimals."""
    text = "".join(values) if kinds == {str} else "".join([v for v in values if type(v) is str])
    if "n" in text or "N" in text:
        raise Slow


def decimals(values: list) -> list[Decimal]:
    """Required numbers: text or JSON integers, finite."""
    kinds = set(map(type, values))
    if not kinds <= _NUMBER:
        raise Slow
    finite_text(values, kinds)
    return list(map(Decimal, values))


def opt_decimals(values: list) -> list[Decimal | None]:
    """Optional numbers as opt_decimal reads them: None and "" are None."""
    kinds = set(map(type, values))
    if not kinds <= _OPT_NUMBER:
        raise Slow
    finite_text(values, kinds)
    if type(None) not in kinds and "" not in values:
        return list(map(Decimal, values))
    return [None if v is None or v == "" else Decimal(v) for v in values]


def opt_epoch_times(values: list, convert: Callable[[int], datetime]) -> list[datetime | None]:
    """Optional epoch times as opt_time reads them (`convert`: units.ms_to_utc, s_to_utc or
    ns_to_utc): JSON ints or ASCII digit strings; None, "", 0 and "0" are None."""
    if set(map(type, values)) == {int} and 0 not in values:
        return list(map(convert, values))
    found = distinct(values)  # most markets share their settlement time: each converted once
    times: dict[int | str | None, datetime | None] = {}
    for v in found:
        if v is None or v == "" or v == 0 or v == "0":
            times[v] = None
        elif type(v) is int or (v.isascii() and v.isdigit()):
            times[v] = convert(int(v))
        else:
            raise Slow
    return list(map(times.__getitem__, values))


def price_columns(entries: list, mark_key: str, index_key: str, rate_key: str) -> dict[str, list]:
    """build_rows' mark, index and rate columns (`rates_raw` as published). Each column is
    checked and converted as soon as it is read, while its values are in the CPU cache."""
    marks = decimals(column(entries, mark_key))
    index = opt_decimals(opt_column(entries, index_key))
    raw = column(entries, rate_key)
    return {"mark_prices": marks, "index_prices": index, "rates": decimals(raw), "rates_raw": raw}


def build_rows(
    venue: Venue,
    symbols: list[str],
    mark_prices: list[Decimal],
    index_prices: list[Decimal | None],
    rates: list[Decimal],
    rates_raw: list,
    intervals: list[Decimal] | None = None,
    interval_source: IntervalSource | list[IntervalSource] | None = None,
    open_interest_base: list[Decimal | None] | None = None,
    open_interest_usd: list[Decimal | None] | None = None,
    volumes_24h_usd: list[Decimal | None] | None = None,
    next_funding_at: list[datetime | None] | None = None,
    base_hints: list[str | None] | None = None,
    settlement_intervals: list[Decimal | None] | None = None,
) -> list[MarketRow]:
    """`make_row` for whole columns (None = that field absent for every market): the same
    checks, done in bulk, raising `Slow` where `make_row` would refuse or look closer.
    `interval_source` is one source for every market or a column of them."""
    n = len(symbols)
    nones = [None] * n
    if intervals is None:
        if venue.interval_hours is None:
            raise Slow
        shortest, interval_source = venue.interval_hours, IntervalSource.FIXED
        intervals = repeat(shortest, n)
    else:
        shortest = min(intervals, default=_ZERO)
    if interval_source is None or not n:
        raise Slow
    if not shortest > _ZERO or not min(mark_prices) > _ZERO:
        raise Slow
    present = [p for p in index_prices if p is not None]
    if present and not min(present) > _ZERO:
        raise Slow
    decimal_rates = list(map(units.percent_to_decimal, rates)) if venue.rate_unit is RateUnit.PERCENT else rates
    # The cap, conservatively: the largest |rate| against the cap of the shortest interval.
    cap = MAX_ABS_RATE_1H * shortest
    if max(decimal_rates) > cap or min(decimal_rates) < -cap:
        raise Slow
    base = open_interest_base or nones
    usd = open_interest_usd or nones
    given = []  # markets with a value, per column (list.count(None) would call Decimal.__eq__)
    for values in (open_interest_base, open_interest_usd, volumes_24h_usd):
        present = [] if values is None else [v for v in values if v is not None]
        if present and min(present) < _ZERO:
            raise Slow
        given.append(len(present))
    if given == [n, 0, given[2]]:  # base units everywhere: USD at the mark price
        usd = list(map(mul, base, mark_prices))
    elif given == [0, n, given[2]]:
        base = list(map(truediv, usd, mark_prices))
    elif given[0] != given[1] or given[0] not in (0, n):  # one unit given for some market: complete it
        completed = [
            (b, b * m) if u is None and b is not None else (u / m, u) if b is None and u is not None else (b, u)
            for b, u, m in zip(base, usd, mark_prices, strict=True)
        ]
        base, usd = [c[0] for c in completed], [c[1] for c in completed]
    columns = zip(
        repeat(venue.id, n),
        symbols,
        mark_prices,
        index_prices,
        decimal_rates,
        map(str, rates_raw),
        repeat(venue.rate_unit, n),
        intervals,
        repeat(interval_source, n) if isinstance(interval_source, IntervalSource) else interval_source,
        base,
        usd,
        volumes_24h_usd or nones,
        next_funding_at or nones,
        base_hints or nones,
        settlement_intervals or nones,
        strict=True,
    )
    return list(map(_tuple_new, repeat(MarketRow, n), columns))
