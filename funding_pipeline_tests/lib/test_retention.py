"""Retention: exact file lists past each tier's age, the guards before deleting, run lifetimes."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from funding_pipeline.lib import retention
from funding_pipeline.lib.retention import RAW, STATS_1H, STATS_1M, Expired, RetentionError, RetentionPolicy
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import write_atomic
from funding_pipeline.lib.storage.schemas import MARKET_SNAPSHOTS, MARKET_STATS_1H, MARKET_STATS_1M, TRACKER_POLLS

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy()  # raw 7 d, 1m 30 d, 1h 400 d, runs 30 d


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(warehouse: Path, path: Path, tables) -> Path:
    return write_atomic(path, list(tables), lambda con: None)


def chunk(warehouse: Path, start: str) -> Path:
    return make(warehouse, layout.chunk_path(warehouse, at(start)), (MARKET_SNAPSHOTS, TRACKER_POLLS))


def stats_1m(warehouse: Path, start: str) -> Path:
    return make(warehouse, layout.stats_1m_path(warehouse, at(start)), (MARKET_STATS_1M,))


def stats_1h(warehouse: Path, day: str) -> Path:
    return make(warehouse, layout.stats_1h_path(warehouse, at(day).date()), (MARKET_STATS_1H,))


def rel(warehouse: Path, items) -> list[tuple[str, str, list[str]]]:
    return [
        (i.tier, f"{i.start:%Y-%m-%d %H:%M}", [p.relative_to(warehouse).as_posix() for p in i.paths]) for i in items
    ]


def files(warehouse: Path) -> list[str]:
    return sorted(p.relative_to(warehouse).as_posix() for p in warehouse.rglob("*") if p.is_file())


@pytest.fixture
def warehouse(tmp_path) -> Path:
    """Raw chunks around the 7-day cutoff (2026-11-23 12:00), 1m files around the 30-day cutoff
    (2026-10-31 12:00), 1h day files around the 400-day cutoff (2025-10-26 12:00)."""
    wh = tmp_path / "warehouse"
    for start in ("2026-11-23 10:00", "2026-11-23 10:05", "2026-11-23 11:00", "2026-11-23 11:55", "2026-11-23 12:00"):
        chunk(wh, start)
        stats_1m(wh, start)
    for start in ("2026-10-31 10:00", "2026-10-31 11:00", "2026-10-31 12:00"):
        stats_1m(wh, start)
    for day in ("2025-10-24", "2025-10-25", "2025-10-26", "2026-10-31"):
        stats_1h(wh, day)
    # never listed: an open chunk and a temp file inside an expired hour
    (wh / "market_snapshots/2026-11-23/10/10.duckdb.open").write_bytes(b"")
    (wh / "market_snapshots/2026-11-23/10/.15.duckdb.tmp-0123456789ab").write_bytes(b"")
    return wh


def test_defaults_env_and_overrides():
    assert retention.load_policy({}).as_days() == {"raw": 7.0, "1m": 30.0, "1h": 400.0, "runs": 30.0}

    env = {"FUNDING_RETENTION_RAW_DAYS": "3", "FUNDING_RETENTION_RUNS_DAYS": "90"}
    policy = retention.load_policy(env, raw=None, stats_1h=500)

    assert policy.as_days() == {"raw": 3.0, "1m": 30.0, "1h": 500.0, "runs": 90.0}


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({"FUNDING_RETENTION_1M_DAYS": "thirty"}, {}, "FUNDING_RETENTION_1M_DAYS='thirty' is not a number of days"),
        ({"FUNDING_RETENTION_RAW_DAYS": "0.5"}, {}, "FUNDING_RETENTION_RAW_DAYS='0.5': retention must be at least 1"),
        ({}, {"runs": 0}, "retention runs=0: retention must be at least 1"),
        ({}, {"stats_1h": float("nan")}, "retention stats_1h=nan: retention must be at least 1"),
    ],
)
def test_bad_settings_name_their_source(env, overrides, message):
    with pytest.raises(RetentionError, match=message):
        retention.load_policy(env, **overrides)


def test_expired_lists_exactly_the_units_past_each_tier(warehouse):
    items = retention.expired(warehouse, NOW, POLICY)

    assert rel(warehouse, items) == [
        (
            RAW,
            "2026-11-23 10:00",
            ["market_snapshots/2026-11-23/10/00.duckdb", "market_snapshots/2026-11-23/10/05.duckdb"],
        ),
        (
            RAW,
            "2026-11-23 11:00",
            ["market_snapshots/2026-11-23/11/00.duckdb", "market_snapshots/2026-11-23/11/55.duckdb"],
        ),
        (STATS_1M, "2026-10-31 10:00", ["market_stats_1m/2026-10-31/10/00.duckdb"]),
        (STATS_1M, "2026-10-31 11:00", ["market_stats_1m/2026-10-31/11/00.duckdb"]),
        (STATS_1H, "2025-10-24 00:00", ["market_stats_1h/2025-10-24.duckdb"]),
        (STATS_1H, "2025-10-25 00:00", ["market_stats_1h/2025-10-25.duckdb"]),
    ]
    assert items[-1].hours[0] == at("2025-10-25 00:00")
    assert len(items[-1].hours) == 24


def test_raw_hours_need_every_1m_file_and_passed_checks(warehouse):
    (warehouse / "market_stats_1m/2026-11-23/11/55.duckdb").unlink()
    items = [i for i in retention.expired(warehouse, NOW, POLICY) if i.tier == RAW]
    ok = {"market_stats_1m.samples_match_raw": True, "market_snapshots.finite_values": True}

    plan = retention.decide(items, warehouse, {(RAW, at("2026-11-23 10:00")): ok, (RAW, at("2026-11-23 11:00")): ok})

    assert rel(warehouse, plan.delete) == [
        (
            RAW,
            "2026-11-23 10:00",
            ["market_snapshots/2026-11-23/10/00.duckdb", "market_snapshots/2026-11-23/10/05.duckdb"],
        )
    ]
    assert [reason for _, reason in plan.kept] == [
        "2026-11-23 11:00: next tier file market_stats_1m/2026-11-23/11/55.duckdb does not exist"
    ]


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        (None, "2026-11-23 10:00: no check results looked up"),
        ({"a.one": True, "a.two": None}, "2026-11-23 10:00: check(s) not recorded: a.two"),
        ({"a.one": False, "a.two": None}, "2026-11-23 10:00: check(s) failed: a.one"),
    ],
)
def test_raw_hours_without_passed_checks_are_kept(warehouse, results, reason):
    items = [i for i in retention.expired(warehouse, NOW, POLICY) if i.start == at("2026-11-23 10:00")]
    checks = {} if results is None else {(RAW, at("2026-11-23 10:00")): results}

    plan = retention.decide(items, warehouse, checks)

    assert plan.delete == []
    assert [r for _, r in plan.kept] == [reason]


def test_1m_hours_need_the_days_1h_file_and_1h_is_the_last_tier(warehouse):
    (warehouse / "market_stats_1h/2026-10-31.duckdb").unlink()
    items = [i for i in retention.expired(warehouse, NOW, POLICY) if i.tier != RAW]
    ok = {"market_stats_1h.samples_match_1m": True}

    plan = retention.decide(items, warehouse, {(STATS_1M, at("2026-10-31 10:00")): ok})

    assert [(i.tier, i.start) for i in plan.delete] == [(STATS_1H, at("2025-10-24")), (STATS_1H, at("2025-10-25"))]
    assert [r for _, r in plan.kept] == [
        "2026-10-31 10:00: next tier file market_stats_1h/2026-10-31.duckdb does not exist",
        "2026-10-31 11:00: next tier file market_stats_1h/2026-10-31.duckdb does not exist",
    ]


def test_delete_removes_exactly_the_files_and_the_folders_left_empty(warehouse):
    items = retention.expired(warehouse, NOW, POLICY)
    raw_10, raw_11 = items[0], items[1]

    done = retention.delete(warehouse, [raw_10, raw_11, items[-1]])

    assert [(d.item.start, d.files) for d in done] == [
        (at("2026-11-23 10:00"), 2),
        (at("2026-11-23 11:00"), 2),
        (at("2025-10-25"), 1),
    ]
    assert all(d.bytes > 0 for d in done)
    assert [f for f in files(warehouse) if not f.startswith("market_stats_1m/")] == [
        "market_snapshots/2026-11-23/10/.15.duckdb.tmp-0123456789ab",  # doctor's to report, not ours
        "market_snapshots/2026-11-23/10/10.duckdb.open",
        "market_snapshots/2026-11-23/12/00.duckdb",
        "market_stats_1h/2025-10-24.duckdb",
        "market_stats_1h/2025-10-26.duckdb",
        "market_stats_1h/2026-10-31.duckdb",
    ]
    assert not (warehouse / "market_snapshots/2026-11-23/11").exists()
    assert (warehouse / "market_stats_1h").is_dir()


def test_delete_tolerates_files_already_gone(warehouse):
    item = Expired(RAW, at("2026-11-23 12:00"), at("2026-11-23 13:00"), (warehouse / "market_snapshots/x.duckdb",))

    (done,) = retention.delete(warehouse, [item])

    assert (done.files, done.bytes) == (0, 0)


ENDED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("materialized", "expires"),
    [
        (set(), ENDED + timedelta(days=30)),
        ({"normalized_tokens", "funding_arbitrage"}, ENDED + timedelta(days=30)),
        ({"market_snapshots", "tracker_polls", "market_stats_1m"}, ENDED + timedelta(days=32)),  # 1m 30 d + 2 d
        ({"market_stats_1h"}, ENDED + timedelta(days=402)),
        ({"funding_rate_history"}, None),
        ({"price_candles", "market_stats_1h"}, None),
    ],
)
def test_runs_live_as_long_as_the_data_they_materialized(materialized, expires):
    assert retention.run_expires_at(ENDED, materialized, POLICY) == expires


def test_a_short_run_retention_never_shortens_a_tier():
    policy = retention.load_policy({}, raw=10, runs=1)

    assert retention.run_expires_at(ENDED, {"tracker_polls"}, policy) == ENDED + timedelta(days=12)
