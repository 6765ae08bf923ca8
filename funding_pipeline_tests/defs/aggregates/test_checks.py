"""The market_stats_1h checks pass on the hand-built hour and fail on each kind of bad data."""

import shutil
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from funding_pipeline.definitions import defs
from funding_pipeline.lib.storage import layout
from funding_pipeline_tests.handbuilt import HOUR, build_chunk

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PARTITION = "2026-11-23-10:00"
CHECKS = {dg.AssetCheckKey(dg.AssetKey("market_stats_1h"), n) for n in ("samples_match_1m", "buckets_in_partition")}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


@pytest.fixture
def built(data_env, definitions):
    """Hour 10:00 (one chunk of 6 slots, 5 markets) rolled up into market_stats_1h; the warehouse."""
    wh = data_env / "warehouse"
    build_chunk(wh, HOUR, range(6))
    job = definitions.resolve_job_def("stats_1h_job")
    assert job.execute_in_process(run_config=QUIET, partition_key=PARTITION).success
    return wh


def run_checks(definitions) -> dict[str, tuple[bool, dict]]:
    job = definitions.resolve_job_def("stats_1h_job").get_subset(asset_selection=set(), asset_check_selection=CHECKS)
    result = job.execute_in_process(run_config=QUIET, partition_key=PARTITION, raise_on_error=False)
    return {
        e.check_name: (e.passed, {k: v.value for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }


def tamper(wh, sql: str) -> None:
    with duckdb.connect(str(layout.stats_1h_path(wh, HOUR.date()))) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(sql)


CLEAN = {
    "off_hour_boundary": 0,
    "outside_file_day": 0,
    "duplicated": 0,
    "hour_without_1m_rows": 0,
    "1m_outside_hour": 0,
}
COPY_BTC = (
    "INSERT INTO market_stats_1h SELECT {} FROM market_stats_1h WHERE exchange = 'hyperliquid' AND symbol = 'BTC'"
)
OTHER_COLUMNS = "exchange, symbol, base_asset, samples, mark_price_open, mark_price_high, mark_price_low, "
OTHER_COLUMNS += "mark_price_close, funding_rate_1h_avg, funding_rate_1h_min, funding_rate_1h_max, "
OTHER_COLUMNS += "open_interest_usd_last, volume_24h_usd_last"


def test_checks_pass_on_the_built_hour(built, definitions):
    assert run_checks(definitions) == {
        "samples_match_1m": (True, {"mismatches": 0, "examples": []}),
        "buckets_in_partition": (True, {"misplaced_rows": 0, "by_kind": CLEAN}),
    }


def test_samples_match_1m_fails_when_1h_samples_differ(built, definitions):
    tamper(built, "UPDATE market_stats_1h SET samples = 7 WHERE exchange = 'hyperliquid' AND symbol = 'BTC'")

    passed, meta = run_checks(definitions)["samples_match_1m"]

    assert (passed, meta["mismatches"]) == (False, 1)
    assert meta["examples"] == [["2026-11-23 10:00:00+00:00", "hyperliquid", "BTC", "6", "7"]]


def test_samples_match_1m_fails_when_an_hour_row_is_missing(built, definitions):
    tamper(built, "DELETE FROM market_stats_1h WHERE exchange = 'binance' AND symbol = 'BTCUSDC'")

    passed, meta = run_checks(definitions)["samples_match_1m"]

    assert (passed, meta["examples"]) == (False, [["2026-11-23 10:00:00+00:00", "binance", "BTCUSDC", "6", "None"]])


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        # 10:00:30: not an hour bucket (its hour, to 11:00:30, still holds the 10:01 minute)
        (COPY_BTC.format(f"bucket_start + INTERVAL 30 SECOND, {OTHER_COLUMNS}"), "off_hour_boundary"),
        # the next day's 03:00 in this day's file
        (COPY_BTC.format(f"bucket_start + INTERVAL 17 HOUR, {OTHER_COLUMNS}"), "outside_file_day"),
        # the same key twice
        (COPY_BTC.format(f"bucket_start, {OTHER_COLUMNS}"), "duplicated"),
        # a 10:00 bucket of a market hour 10:00 never saw: it does not come from its own hour
        (
            "INSERT INTO market_stats_1h SELECT bucket_start, exchange, 'ETH', 'ETH', samples, mark_price_open, "
            "mark_price_high, mark_price_low, mark_price_close, funding_rate_1h_avg, funding_rate_1h_min, "
            "funding_rate_1h_max, open_interest_usd_last, volume_24h_usd_last FROM market_stats_1h "
            "WHERE exchange = 'hyperliquid' AND symbol = 'BTC'",
            "hour_without_1m_rows",
        ),
    ],
)
def test_buckets_in_partition_fails_on_a_misplaced_hour_row(built, definitions, sql, kind):
    tamper(built, sql)

    passed, meta = run_checks(definitions)["buckets_in_partition"]

    assert (passed, meta["misplaced_rows"], meta["by_kind"]) == (False, 1, {**CLEAN, kind: 1})


def test_buckets_in_partition_fails_on_a_1m_file_filed_under_another_hour(built, definitions, tmp_path):
    # Chunk 11:05 (slots 11:05:00 and 11:05:15: one minute bucket of 5 markets) lands in hour 10's files.
    other = tmp_path / "other"
    build_chunk(other, HOUR + timedelta(minutes=65), range(20, 22))
    shutil.copy(
        layout.stats_1m_path(other, HOUR + timedelta(minutes=65)),
        layout.stats_1m_path(built, HOUR + timedelta(minutes=5)),
    )

    passed, meta = run_checks(definitions)["buckets_in_partition"]

    assert (passed, meta["by_kind"]) == (False, {**CLEAN, "1m_outside_hour": 5})
