"""The SQL forms of the unit conversions agree with the Decimal functions, digit for digit."""

from decimal import Decimal

import duckdb
import pytest

from funding_pipeline.lib import units


@pytest.mark.parametrize(
    ("rate", "interval", "per_hour", "per_8h", "apr"),
    [
        ("0.0001", "8", "0.0000125", "0.0001", "0.1095"),
        ("0.0000125", "1", "0.0000125", "0.0001", "0.1095"),
        ("-0.0003", "4", "-0.000075", "-0.0006", "-0.657"),
    ],
)
def test_sql_and_decimal_conversions_agree(rate, interval, per_hour, per_8h, apr):
    assert units.rate_1h(Decimal(rate), Decimal(interval)) == Decimal(per_hour)
    assert units.rate_8h(Decimal(per_hour)) == Decimal(per_8h)
    assert units.apr(Decimal(per_hour)) == Decimal(apr)

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT ?::DOUBLE AS funding_rate, ?::DOUBLE AS funding_interval_hours",
        [float(rate), float(interval)],
    )
    sql_1h = con.execute(f"SELECT {units.SQL_RATE_1H} FROM t").fetchone()[0]
    con.execute("CREATE TABLE u AS SELECT ?::DOUBLE AS funding_rate_1h", [sql_1h])
    sql_8h, sql_apr = con.execute(f"SELECT {units.SQL_RATE_8H}, {units.SQL_APR} FROM u").fetchone()

    assert (sql_1h, sql_8h, sql_apr) == pytest.approx((float(per_hour), float(per_8h), float(apr)), rel=1e-15)
