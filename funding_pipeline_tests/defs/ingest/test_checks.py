"""The ingest asset checks on a hand-built hour: their failing paths, through a collection run.

The hour's 12 chunk files exist, so the collection run keeps them (polls nothing), writes their
1-minute aggregates, and the checks judge exactly the rows built here.
"""

import math
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from funding_pipeline.definitions import defs
from funding_pipeline.lib import quality
from funding_pipeline_tests.chunks import polls, snapshots, write_chunk

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
SLOTS = [HOUR + timedelta(seconds=15 * i) for i in range(240)]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def build_hour(warehouse, ok_slots: dict[str, int], odd_rows=None):
    """Every venue answers with one row (BTC) in its first `ok_slots[venue]` slots and fails
    after. `odd_rows` maps a slot index to changed values of its first row, or to "again" to
    store that row twice (a duplicate)."""
    odd_rows = odd_rows or {}
    for k in range(12):
        poll_rows, snap_rows = [], []
        for i in range(20 * k, 20 * k + 20):
            slot = SLOTS[i]
            first = len(snap_rows)
            for venue, ok in ok_slots.items():
                wrote = i < ok
                poll_rows.append({"slot_at": slot, "exchange": venue, "ok": wrote, "rows": int(wrote)})
                if wrote:
                    snap_rows.append({"observed_at": slot, "exchange": venue, "symbol": "BTC"})
            odd = odd_rows.get(i)
            if odd == "again":
                snap_rows.append(snap_rows[first])
            elif odd:
                snap_rows[first] = {**snap_rows[first], **odd}
        write_chunk(warehouse, HOUR + timedelta(minutes=5 * k), (snapshots(*snap_rows), polls(*poll_rows)))


@pytest.fixture
def ingest_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUNDING_SOURCE", "replay")
    monkeypatch.setenv("FUNDING_CLOCK", "simulated")
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,okx")
    monkeypatch.delenv("FUNDING_REPLAY_DIR", raising=False)
    return tmp_path / "warehouse"


def check_results(result) -> dict[str, tuple]:
    out = {}
    for e in result.get_asset_check_evaluations():
        out[e.check_name] = (e.passed, e.severity, {k: v.value for k, v in e.metadata.items()})
    return out


def test_failing_checks_of_a_bad_hour(ingest_env):
    build_hour(
        ingest_env,
        {"hyperliquid": 227, "okx": 119},
        {
            20: "again",
            30: {"funding_rate": math.inf, "funding_rate_1h": math.inf, "funding_apr": math.inf},
            31: {"mark_price": math.nan},
        },
    )

    result = (
        defs()
        .resolve_job_def("collection_job")
        .execute_in_process(
            partition_key="2026-11-23-10:00",
            instance=dg.DagsterInstance.ephemeral(),
            run_config=QUIET,
            raise_on_error=False,
        )
    )

    checks = check_results(result)
    assert checks["slot_coverage"] == (
        False,
        dg.AssetCheckSeverity.ERROR,
        {
            "worst_share": 0.4958,
            "below_95pct": "hyperliquid, okx",
            "below_50pct": "okx",
            "shares": {"hyperliquid": 0.9458, "okx": 0.4958},
        },
    )
    assert checks["no_duplicate_snapshots"] == (
        False,
        dg.AssetCheckSeverity.ERROR,
        {"examples": [["2026-11-23 10:05:00+00:00", "hyperliquid", "BTC", "2"]]},
    )
    assert checks["finite_values"] == (False, dg.AssetCheckSeverity.ERROR, {"bad_rows": 2})
    # 227 + 119 rows plus the duplicate: the aggregates count every stored row
    assert checks["samples_match_raw"] == (True, dg.AssetCheckSeverity.ERROR, {"raw_rows": 347, "samples": 347})


@pytest.mark.parametrize(
    ("okx_slots", "share", "below_warn", "below_error"),
    [
        (240, 1.0, [], []),
        (228, 0.95, [], []),  # exactly 95 %: passes
        (227, 0.9458, ["okx"], []),
        (120, 0.5, ["okx"], []),  # exactly 50 %: a warning, not an error
        (119, 0.4958, ["okx"], ["okx"]),
        (0, 0.0, ["okx"], ["okx"]),
    ],
)
def test_slot_coverage_thresholds(tmp_path, okx_slots, share, below_warn, below_error):
    warehouse = tmp_path / "warehouse"
    build_hour(warehouse, {"hyperliquid": 240, "okx": okx_slots})

    with quality.hour_connection(warehouse, HOUR) as con:
        coverage = quality.slot_coverage(con, HOUR, HOUR + timedelta(hours=1), ["hyperliquid", "okx"], 240)

    assert coverage == quality.Coverage(
        shares={"hyperliquid": 1.0, "okx": share},
        worst=share,
        below_warn=below_warn,
        below_error=below_error,
    )


def test_an_enabled_venue_never_polled_has_zero_coverage(tmp_path):
    warehouse = tmp_path / "warehouse"
    build_hour(warehouse, {"hyperliquid": 240})

    with quality.hour_connection(warehouse, HOUR) as con:
        coverage = quality.slot_coverage(con, HOUR, HOUR + timedelta(hours=1), ["hyperliquid", "okx"], 240)

    assert (coverage.shares, coverage.below_error) == ({"hyperliquid": 1.0, "okx": 0.0}, ["okx"])
