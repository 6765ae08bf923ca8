"""The shared history mechanics (`lib/exchanges/history.py`) and `fields.make_print` / `history_rows`."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges.fields import Ctx, history_rows, make_print, req_dict, req_int
from funding_pipeline.lib.exchanges.history import (
    Settlement,
    merge,
    older_page_from,
    respace,
    settled_prints,
    unique_ascending,
    walk_pages,
    whole_minutes,
    whole_seconds,
)
from funding_pipeline.lib.exchanges.model import (
    FundingPrint,
    HistoryResult,
    IntervalSource,
    ParseError,
    RateUnit,
    Venue,
)

DERIVED, FIXED, FIELD = IntervalSource.DERIVED, IntervalSource.FIXED, IntervalSource.MARKET_FIELD
CTX = Ctx("venue", "history")
H = 3_600_000
T0 = 1672012800000  # 2022-12-26 00:00 UTC
DAY = (datetime(2022, 12, 26, tzinfo=UTC), datetime(2022, 12, 27, tzinfo=UTC))
VENUE = Venue("venue", "https://example.invalid", "", Decimal(1), RateUnit.DECIMAL, "base", "BTC")
PERCENT_VENUE = Venue("pct", "https://example.invalid", "", None, RateUnit.PERCENT, "base", "BTC")


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2022, 12, 26, hour, minute, second, micro, tzinfo=UTC)


def fp(when: datetime, hours: str = "8", source: IntervalSource = FIXED, symbol: str = "BTC", rate: str = "0.0001"):
    return FundingPrint("venue", symbol, when, Decimal(rate), rate, Decimal(hours), source)


# -- settled_prints: gap to the previous settlement, with a fallback ---------------------------------


def settled(settlements, fallback=None, max_hours=Decimal(8)):
    return settled_prints(CTX, "BTC", settlements, fallback, *DAY, max_hours=max_hours)


def test_settled_prints_gap_to_previous_and_oldest_to_next():
    result = settled(
        [
            Settlement(T0 + 8 * H, Decimal("0.0002"), "0.0002"),
            Settlement(T0, Decimal("0.0001"), "0.0001"),  # any order in
            Settlement(T0 + 12 * H + 7, Decimal("-0.0003"), "-0.0003"),  # 7 ms jitter
        ]
    )

    assert result.rejected == []
    assert result.prints == [
        FundingPrint("venue", "BTC", at(0), Decimal("0.0001"), "0.0001", Decimal(8), DERIVED),  # to the next
        FundingPrint("venue", "BTC", at(8), Decimal("0.0002"), "0.0002", Decimal(8), DERIVED),
        FundingPrint("venue", "BTC", at(12), Decimal("-0.0003"), "-0.0003", Decimal(4), DERIVED),  # floored
    ]


def test_settled_prints_same_minute_keeps_the_last_entry():
    same_minute = [Settlement(T0, Decimal("0.1"), "a"), Settlement(T0 + 59_999, Decimal("0.2"), "b")]

    result = settled(same_minute, fallback=(Decimal(8), FIELD))

    assert [(p.funding_time, p.funding_rate, p.funding_rate_raw) for p in result.prints] == [
        (at(0), Decimal("0.2"), "b")
    ]


def test_settled_prints_only_the_window_but_neighbours_outside_count():
    result = settled([Settlement(T0 - 4 * H, Decimal(0), "0"), Settlement(T0 + 24 * H, Decimal(0), "0")])

    assert result.prints == []  # 2022-12-25 20:00 and 12-27 00:00 are outside [start, end)
    result = settled([Settlement(T0 - 4 * H, Decimal(0), "0"), Settlement(T0 + 60_000, Decimal(0), "0")])

    assert [(p.funding_time, p.funding_interval_hours) for p in result.prints] == [
        (at(0, 1), Decimal("4.016666666666666666666666667"))  # 241 minutes
    ]


def test_settled_prints_hole_or_lone_print_uses_the_fallback():
    hole = [Settlement(T0, Decimal(0), "0"), Settlement(T0 + 9 * H, Decimal(0), "0")]  # 9 h > 8 h

    result = settled(hole, fallback=(Decimal(4), FIELD))

    assert [(p.funding_interval_hours, p.interval_source) for p in result.prints] == [(4, FIELD), (4, FIELD)]
    lone = settled([Settlement(T0, Decimal(0), "0")], fallback=(Decimal(1), FIXED))
    assert [(p.funding_interval_hours, p.interval_source) for p in lone.prints] == [(1, FIXED)]


def test_settled_prints_without_fallback_rejects_with_the_gap():
    result = settled([Settlement(T0, Decimal(0), "0"), Settlement(T0 + 9 * H, Decimal(0), "0")])

    assert result.prints == []
    assert [(e.venue, e.endpoint, e.path, e.value) for e in result.rejected] == [
        ("venue", "history", f"BTC@{T0}", 9 * H),
        ("venue", "history", f"BTC@{T0 + 9 * H}", 9 * H),
    ]
    (lone,) = settled([Settlement(T0, Decimal(0), "0")]).rejected
    assert (lone.value, lone.reason) == (0, "no interval: no neighbour print")


# -- respace: spacing of ascending prints ------------------------------------------------------------


def test_whole_minutes_and_whole_seconds():
    assert whole_minutes(at(0), at(8)) == Decimal(8)
    assert whole_minutes(at(0), at(4, 0, 29)) == Decimal(4)  # 29 s rounds away
    assert whole_minutes(at(0), at(0, 30)) == Decimal("0.5")
    assert whole_seconds(at(0), at(1, 0, 0, 999_999)) == Decimal(1)  # sub-second cut
    assert whole_seconds(at(0), at(0, 0, 36)) == Decimal("0.01")


def test_respace_oldest_takes_the_next_gap():
    prints = [fp(at(0)), fp(at(8)), fp(at(12)), fp(at(13))]

    spaced = respace(prints, oldest_takes_next=True)

    assert [(p.funding_interval_hours, p.interval_source) for p in spaced] == [
        (Decimal(8), DERIVED),
        (Decimal(8), DERIVED),
        (Decimal(4), DERIVED),
        (Decimal(1), DERIVED),
    ]
    assert [p.funding_rate for p in spaced] == [Decimal("0.0001")] * 4


def test_respace_oldest_keeps_its_own_interval():
    spaced = respace([fp(at(0), "2", FIELD), fp(at(4)), fp(at(5))], oldest_takes_next=False)

    assert [(p.funding_interval_hours, p.interval_source) for p in spaced] == [
        (Decimal(2), FIELD),
        (Decimal(4), DERIVED),
        (Decimal(1), DERIVED),
    ]


def test_respace_lone_print_and_seconds_gap():
    assert respace([fp(at(0), "1")], oldest_takes_next=True) == [fp(at(0), "1")]
    assert respace([], oldest_takes_next=True) == []
    spaced = respace([fp(at(0)), fp(at(0, 0, 36))], oldest_takes_next=True, gap=whole_seconds)
    assert [p.funding_interval_hours for p in spaced] == [Decimal("0.01"), Decimal("0.01")]


# -- walk_pages, older_page_from, unique_ascending, merge ------------------------------------------------


def pages(answers: dict):
    """A fetch answering from `answers` (cursor -> (entries, rejected, next) or an exception)."""
    asked = []

    async def fetch(cursor):
        asked.append(cursor)
        answer = answers[cursor]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch, asked


def test_walk_pages_follows_the_cursor_to_none():
    bad = ParseError("venue", "history", "$[1]", "x", "bad entry")
    fetch, asked = pages({0: (["a", "b"], [], 2), 2: (["c"], [bad], 3), 3: ([], [], None)})

    entries, rejected = asyncio.run(walk_pages(fetch, 0, max_pages=10))

    assert (entries, rejected, asked) == (["a", "b", "c"], [bad], [0, 2, 3])


def test_walk_pages_bad_page_is_a_rejection_or_raises():
    broken = ParseError("venue", "history", "$", {}, "expected an array")
    fetch, _ = pages({"": (["a"], [], "n"), "n": broken})

    assert asyncio.run(walk_pages(fetch, "", max_pages=10)) == (["a"], [broken])
    with pytest.raises(ParseError, match="expected an array"):
        asyncio.run(walk_pages(fetch, "", max_pages=10, reject_bad_page=False))


def test_walk_pages_cap_is_reported_only_where_asked():
    fetch, asked = pages({0: (["a"], [], 1), 1: (["b"], [], 2)})

    quiet = asyncio.run(walk_pages(fetch, 0, max_pages=2))
    reported = asyncio.run(walk_pages(fetch, 0, max_pages=2, cap=Ctx("venue", "history", "$[BTC]")))

    assert quiet == (["a", "b"], [])
    entries, (cap,) = reported
    assert entries == ["a", "b"]
    assert (cap.path, cap.value, cap.reason) == ("$[BTC]", 2, "page cap reached; history cut")
    assert asked == [0, 1, 0, 1]  # never a third page


def test_older_page_from():
    page = [fp(at(12)), fp(at(4)), fp(at(8))]

    assert older_page_from(page, page_limit=3, start=at(4)) == at(4)
    assert older_page_from(page, page_limit=4, start=at(0)) is None  # short page: the last
    assert older_page_from(page, page_limit=3, start=at(5)) is None  # reached back before start
    assert older_page_from([], page_limit=0, start=at(0)) is None


def test_unique_ascending_first_seen_wins_in_time_then_symbol_order():
    first, again = fp(at(8), rate="0.1"), fp(at(8), rate="0.2")
    eth = fp(at(8), symbol="ETH")

    assert unique_ascending([eth, first, fp(at(0)), again]) == [fp(at(0)), first, eth]
    assert unique_ascending([fp(at(0)), first, fp(at(12))], start=at(1), end=at(12)) == [first]


def test_merge_keeps_every_rejection_and_the_window():
    error = ParseError("venue", "history", "$[0]", None, "x")
    parts = [
        HistoryResult([fp(at(8)), fp(at(0))], [error]),
        HistoryResult([fp(at(8), symbol="ETH"), fp(at(8), rate="0.9")], []),
        HistoryResult(rejected=[error]),
    ]

    merged = merge(parts, at(1), at(23))

    assert merged.prints == [fp(at(8)), fp(at(8), symbol="ETH")]
    assert merged.rejected == [error, error]


# -- make_print and history_rows (fields.py) ----------------------------------------------------------


def build(rate: str, hours: str, venue: Venue = VENUE, source: IntervalSource = FIXED, **unit) -> FundingPrint:
    """`make_print` of BTC at 00:00 with the rate field as error path."""
    return make_print(
        venue,
        CTX.at("rate"),
        symbol="BTC",
        funding_time=at(0),
        rate=Decimal(rate),
        rate_raw=rate,
        interval_hours=Decimal(hours),
        interval_source=source,
        **unit,
    )


def test_make_print_decimal_and_percent_rates():
    decimal = build("-0.0000125", "1")
    percent = build("0.0037", "8", PERCENT_VENUE, FIELD)
    lighter_style = build("-0.0002", "1", rate_unit=RateUnit.PERCENT)  # percent history of a decimal venue

    assert decimal == FundingPrint("venue", "BTC", at(0), Decimal("-0.0000125"), "-0.0000125", Decimal(1), FIXED)
    assert percent == FundingPrint("pct", "BTC", at(0), Decimal("0.000037"), "0.0037", Decimal(8), FIELD)
    assert (lighter_style.funding_rate, lighter_style.funding_rate_raw) == (Decimal("-0.000002"), "-0.0002")


def test_make_print_refuses_a_rate_beyond_the_cap_and_a_bad_interval():
    assert build("0.4", "8").funding_rate == Decimal("0.4")  # exactly 0.05 per hour: allowed
    with pytest.raises(ParseError) as over:
        build("-0.4001", "8")
    assert (over.value.path, over.value.value, over.value.reason) == (
        "$.rate",
        "-0.4001",
        "funding rate beyond the sane cap of 0.05/h",
    )
    with pytest.raises(ParseError, match="beyond the sane cap"):
        build("5.1", "1", PERCENT_VENUE)  # 5.1 % per hour
    with pytest.raises(ParseError, match="funding interval must be positive"):
        build("0.0001", "0")


def test_history_rows_rejects_bad_entries_with_their_path_and_leaves_out_none():
    def parse_one(item, where):
        row = req_dict(item, where)
        if row.get("skip"):
            return None
        return req_int(row, "t", where) // 0 if row.get("boom") else req_int(row, "t", where)

    items = [{"t": 1}, {"skip": True}, {"t": "x"}, "nope", {"t": 2, "boom": True}, {"t": 3}]

    result = history_rows(enumerate(items), CTX.at("data"), parse_one)

    assert result.prints == [1, 3]
    assert [(e.path, e.reason) for e in result.rejected] == [
        ("$.data[2].t", "not a number: 'x'"),
        ("$.data[3]", "expected an object, got str"),
        ("$.data[4]", "ZeroDivisionError: integer division or modulo by zero"),
    ]
