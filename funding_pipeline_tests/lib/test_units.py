from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from funding_pipeline.lib import units


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("0.00038246", Decimal("0.00038246")),
        ("-0.0000125", Decimal("-0.0000125")),
        (" 8 ", Decimal(8)),
        (240, Decimal(240)),
        (0.1, Decimal("0.1")),  # repr of the float, not its binary expansion
        (Decimal("1E-8"), Decimal("0.00000001")),
    ],
)
def test_to_decimal_parses_wire_numbers_exactly(wire, expected):
    assert units.to_decimal(wire) == expected


def test_to_decimal_keeps_the_published_digits():
    assert str(units.to_decimal("0.00010000")) == "0.00010000"


@pytest.mark.parametrize(
    "wire",
    [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity", "-inf", True, False, None, "", "0.01%", "abc"],
)
def test_to_decimal_rejects_non_numbers(wire):
    with pytest.raises(ValueError):
        units.to_decimal(wire)


def test_percent_and_interval_conversions():
    assert units.percent_to_decimal(Decimal("0.0037")) == Decimal("0.000037")
    assert units.minutes_to_hours(Decimal(240)) == Decimal(4)
    assert units.minutes_to_hours(Decimal(90)) == Decimal("1.5")
    assert units.seconds_to_hours(Decimal(28800)) == Decimal(8)
    assert units.seconds_to_hours(Decimal(900)) == Decimal("0.25")


def test_rate_1h_divides_by_the_interval():
    assert units.rate_1h(Decimal("0.0001"), Decimal(8)) == Decimal("0.0000125")
    assert units.rate_1h(Decimal("-0.00005537"), Decimal(4)) == Decimal("-0.0000138425")


@pytest.mark.parametrize("interval", [Decimal(0), Decimal(-1)])
def test_rate_1h_rejects_a_non_positive_interval(interval):
    with pytest.raises(ValueError, match="must be positive"):
        units.rate_1h(Decimal("0.0001"), interval)


def test_rate_8h_and_apr_from_a_per_hour_rate():
    assert units.rate_8h(Decimal("0.0000125")) == Decimal("0.0001")
    assert units.apr(Decimal("0.0000125")) == Decimal("0.1095")  # 0.0000125 * 8760
    assert units.apr(Decimal("-0.000002")) == Decimal("-0.01752")


def test_epoch_numbers_to_utc():
    assert units.ms_to_utc(1597392000000) == datetime(2020, 8, 14, 8, tzinfo=UTC)
    assert units.ms_to_utc(Decimal("1683849600048")) == datetime(2023, 5, 12, 0, 0, 0, 48000, tzinfo=UTC)
    assert units.s_to_utc(1712707200) == datetime(2024, 4, 10, tzinfo=UTC)
    assert units.ns_to_utc(1764777600000000000) == datetime(2025, 12, 3, 16, tzinfo=UTC)
    assert units.ns_to_utc(1760494260000001999) == datetime(2025, 10, 15, 2, 11, 0, 1, tzinfo=UTC)  # ns cut to µs


def test_iso_to_utc_needs_a_zone():
    assert units.iso_to_utc("2025-07-25T11:00:00.013Z") == datetime(2025, 7, 25, 11, 0, 0, 13000, tzinfo=UTC)
    assert units.iso_to_utc("2025-07-25T13:00:00+02:00") == datetime(2025, 7, 25, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="without timezone"):
        units.iso_to_utc("2025-07-25T11:00:00")


def test_utc_to_epoch_numbers_exactly():
    at = datetime(2023, 6, 8, 0, 0, 0, 254000, tzinfo=UTC)

    assert units.utc_to_ms(at) == 1686182400254
    assert units.utc_to_s(at) == 1686182400  # sub-second part cut
    assert units.utc_to_ms(datetime(2023, 6, 8, 2, tzinfo=timezone(timedelta(hours=2)))) == 1686182400000
    assert units.utc_to_ms(datetime(2023, 6, 8, 0, 0, 0, 999, tzinfo=UTC)) == 1686182400000  # µs below 1 ms cut
    assert units.utc_to_s(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_utc_to_ms_round_trips_ms_to_utc():
    for ms in (0, 1597026383085, 1686182400255, 1777507201028):
        assert units.utc_to_ms(units.ms_to_utc(ms)) == ms


@pytest.mark.parametrize("convert", [units.utc_to_ms, units.utc_to_s])
def test_utc_to_epoch_rejects_naive_times(convert):
    with pytest.raises(ValueError, match="naive"):
        convert(datetime(2023, 6, 8))


@pytest.mark.parametrize(
    ("at", "interval", "expected"),
    [
        (datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC), Decimal(1), datetime(2026, 11, 23, 13, tzinfo=UTC)),
        (datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC), Decimal(8), datetime(2026, 11, 23, 16, tzinfo=UTC)),
        (datetime(2026, 11, 23, 16, tzinfo=UTC), Decimal(8), datetime(2026, 11, 24, 0, tzinfo=UTC)),  # strictly after
        (datetime(2026, 11, 23, 12, 40, tzinfo=UTC), Decimal("0.5"), datetime(2026, 11, 23, 13, tzinfo=UTC)),
    ],
)
def test_next_boundary(at, interval, expected):
    assert units.next_boundary(at, interval) == expected


def test_sql_expressions_agree_with_the_decimal_functions():
    rate, interval = Decimal("0.0001"), Decimal(8)
    row = duckdb.sql(
        f"SELECT {units.SQL_RATE_1H}, {units.SQL_RATE_8H}, {units.SQL_APR} FROM ("
        f"SELECT *, {units.SQL_RATE_1H} AS funding_rate_1h FROM ("
        "SELECT 0.0001::DOUBLE AS funding_rate, 8::DOUBLE AS funding_interval_hours))"
    ).fetchone()

    per_hour = units.rate_1h(rate, interval)
    assert row == pytest.approx((float(per_hour), float(units.rate_8h(per_hour)), float(units.apr(per_hour))))
    assert row[2] == pytest.approx(0.1095)
