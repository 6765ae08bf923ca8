"""Retention: which warehouse files are past their tier's age, whether they may go, deleting them.

Three tiers, each a file kind of `lib.storage.layout`:

| tier | files                                          | unit of deletion          | default |
|------|------------------------------------------------|---------------------------|---------|
| raw  | `market_snapshots/<day>/<HH>/<MM>.duckdb`      | one hour (its 12 chunks)  | 7 days  |
| 1m   | `market_stats_1m/<day>/<HH>/<MM>.duckdb`       | one hour (its 12 files)   | 30 days |
| 1h   | `market_stats_1h/<day>.duckdb`                 | one day                   | 400 days|

A unit is past retention when the period it covers ended at least the tier's retention before
`now`. A raw hour may only be deleted when every chunk's 1-minute file exists and the hour's
checks passed; a 1m hour only when its day's 1h file exists and the hour's 1h checks passed. The check
results come from the caller (the Dagster instance); an hour without recorded results is kept.

Runs in the Dagster instance carry the materialization records the UI shows as "partition
present", so a run is kept until it is older than the run retention *and* than the retention of
every tier it materialized (`run_expires_at`).
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funding_pipeline.lib.storage import layout

RAW, STATS_1M, STATS_1H = "raw", "1m", "1h"
TIERS = (RAW, STATS_1M, STATS_1H)

# Environment overrides, in days (floats allowed); run config of the jobs overrides these.
ENV = {
    RAW: "FUNDING_RETENTION_RAW_DAYS",
    STATS_1M: "FUNDING_RETENTION_1M_DAYS",
    STATS_1H: "FUNDING_RETENTION_1H_DAYS",
    "runs": "FUNDING_RETENTION_RUNS_DAYS",
}
DEFAULT_DAYS = {RAW: 7.0, STATS_1M: 30.0, STATS_1H: 400.0, "runs": 30.0}
MIN_DAYS = 1.0  # a smaller value is almost surely a unit mistake (hours meant as days)

# Assets whose Dagster runs must outlive their data tier (their materializations mark partitions present).
ASSET_TIER = {
    "market_snapshots": RAW,
    "tracker_polls": RAW,
    "market_stats_1m": STATS_1M,
    "market_stats_1h": STATS_1H,
}
# Partitioned, backfillable history with no file retention: runs that materialized them are never pruned.
KEEP_RUNS_FOREVER = frozenset({"funding_rate_history", "price_candles"})
# Retention runs daily: a run outlives its data by this much, so retention always finds its records.
RUN_GRACE = timedelta(days=2)


class RetentionError(ValueError):
    """A retention setting outside its allowed range."""


@dataclass(frozen=True)
class RetentionPolicy:
    raw: timedelta = timedelta(days=DEFAULT_DAYS[RAW])
    stats_1m: timedelta = timedelta(days=DEFAULT_DAYS[STATS_1M])
    stats_1h: timedelta = timedelta(days=DEFAULT_DAYS[STATS_1H])
    runs: timedelta = timedelta(days=DEFAULT_DAYS["runs"])

    def of(self, tier: str) -> timedelta:
        return {RAW: self.raw, STATS_1M: self.stats_1m, STATS_1H: self.stats_1h, "runs": self.runs}[tier]

    def as_days(self) -> dict[str, float]:
        return {t: self.of(t) / timedelta(days=1) for t in (*TIERS, "runs")}


def load_policy(env: Mapping[str, str] | None = None, **overrides: float | None) -> RetentionPolicy:
    """Policy from explicit overrides (days; keys `raw`, `stats_1m`, `stats_1h`, `runs`), else the
    `FUNDING_RETENTION_*_DAYS` variables, else the defaults. Read at call time."""
    env = os.environ if env is None else env
    names = {"raw": RAW, "stats_1m": STATS_1M, "stats_1h": STATS_1H, "runs": "runs"}
    unknown = set(overrides) - set(names)
    if unknown:
        raise TypeError(f"unknown retention override(s): {', '.join(sorted(unknown))}")
    days = {}
    for arg, tier in names.items():
        value: float | str | None = overrides.get(arg)
        source = f"retention {arg}"
        if value is None and env.get(ENV[tier], "").strip():
            value, source = env[ENV[tier]].strip(), ENV[tier]
        if value is None:
            value = DEFAULT_DAYS[tier]
        try:
            number = float(value)
        except ValueError:
            raise RetentionError(f"{source}={value!r} is not a number of days") from None
        if not number >= MIN_DAYS:  # also rejects NaN
            raise RetentionError(f"{source}={value!r}: retention must be at least {MIN_DAYS:g} day(s)")
        days[arg] = timedelta(days=number)
    return RetentionPolicy(**days)


@dataclass(frozen=True)
class Expired:
    """One unit of deletion past its retention: an hour (raw, 1m) or a day (1h)."""

    tier: str
    start: datetime
    end: datetime
    paths: tuple[Path, ...]

    @property
    def hours(self) -> list[datetime]:
        """The hourly partitions this unit covers."""
        return [self.start + timedelta(hours=h) for h in range(int((self.end - self.start) / timedelta(hours=1)))]


def _hour_of(warehouse: Path, table: str, path: Path) -> datetime:
    """The hour a raw chunk or 1m file belongs to: `<day>/<HH>/<MM>.duckdb` or `<day>/<HH>.duckdb`."""
    day, hour = path.relative_to(warehouse / table).parts[:2]
    return datetime.strptime(f"{day} {hour[:2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def _chunk_start(path: Path) -> datetime:
    day, hour, name = path.parts[-3:]
    return datetime.strptime(f"{day} {hour}:{name[:2]}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def _hourly(warehouse: Path, table: str, tier: str, cutoff: datetime) -> list[Expired]:
    hours: dict[datetime, list[Path]] = {}
    for path in layout.kind_of_table(table).files(warehouse):
        hours.setdefault(_hour_of(warehouse, table, path), []).append(path)
    return [
        Expired(tier, start, start + timedelta(hours=1), tuple(sorted(paths)))
        for start, paths in sorted(hours.items())
        if start + timedelta(hours=1) <= cutoff
    ]


def expired(warehouse: Path, now: datetime, policy: RetentionPolicy) -> list[Expired]:
    """Every finished file past its tier's retention, grouped into units, oldest first per tier.

    Open chunks (`.open`) and temp files are never listed: they are `funding-pipeline doctor`'s.
    """
    out = _hourly(warehouse, "market_snapshots", RAW, now - policy.raw)
    out += _hourly(warehouse, "market_stats_1m", STATS_1M, now - policy.stats_1m)
    h1_cutoff = now - policy.stats_1h
    for path in layout.kind_of_table("market_stats_1h").files(warehouse):
        start = datetime.strptime(path.stem, "%Y-%m-%d").replace(tzinfo=UTC)
        if start + timedelta(days=1) <= h1_cutoff:
            out.append(Expired(STATS_1H, start, start + timedelta(days=1), (path,)))
    return out


# (tier, hour) -> check label -> passed (None = no evaluation recorded for that hour's data)
CheckResults = Mapping[tuple[str, datetime], Mapping[str, bool | None]]


@dataclass
class Plan:
    delete: list[Expired] = field(default_factory=list)
    kept: list[tuple[Expired, str]] = field(default_factory=list)


def _missing_next_tier(warehouse: Path, item: Expired) -> Path | None:
    """The first file of the next tier that should exist before `item` may go, if it does not."""
    if item.tier == RAW:  # every chunk's own 1-minute file
        needed = [layout.stats_1m_path(warehouse, _chunk_start(p)) for p in item.paths]
    elif item.tier == STATS_1M:
        needed = [layout.stats_1h_path(warehouse, item.start.date())]
    else:
        needed = []
    return next((p for p in needed if not p.exists()), None)


def decide(items: Iterable[Expired], warehouse: Path, checks: CheckResults) -> Plan:
    """Which expired units may be deleted now, and why the others are kept.

    raw and 1m units need the next tier's files (each chunk's 1m file; the day's 1h file) and an
    entry in `checks` for (tier, hour) whose every check passed. The 1h tier is the last: it
    needs nothing.
    """
    plan = Plan()
    for item in items:
        reason = None
        label = f"{item.start:%Y-%m-%d %H}:00"
        missing_file = _missing_next_tier(warehouse, item)
        if missing_file is not None:
            reason = f"{label}: next tier file {missing_file.relative_to(warehouse)} does not exist"
        for hour in item.hours if item.tier != STATS_1H and reason is None else []:
            results = checks.get((item.tier, hour))
            if not results:
                reason = f"{label}: no check results looked up"
                break
            failed = sorted(name for name, passed in results.items() if passed is False)
            missing = sorted(name for name, passed in results.items() if passed is None)
            if failed:
                reason = f"{label}: check(s) failed: {', '.join(failed)}"
            elif missing:
                reason = f"{label}: check(s) not recorded: {', '.join(missing)}"
            if reason:
                break
        if reason is None:
            plan.delete.append(item)
        else:
            plan.kept.append((item, reason))
    return plan


@dataclass(frozen=True)
class Deleted:
    item: Expired
    files: int
    bytes: int


def delete(warehouse: Path, items: Iterable[Expired]) -> list[Deleted]:
    """Unlink the units' files (and any `.wal` beside them), then the folders left empty.

    Readers holding a deleted file keep their open inode; nothing else writes these files.
    """
    done = []
    for item in items:
        files = size = 0
        for path in item.paths:
            for p in (path, path.with_name(path.name + ".wal")):
                try:
                    n = p.stat().st_size
                    p.unlink()
                except FileNotFoundError:
                    continue
                files, size = files + 1, size + n
        for path in item.paths:
            _prune_empty_dirs(warehouse, path.parent)
        done.append(Deleted(item, files, size))
    return done


def _prune_empty_dirs(warehouse: Path, folder: Path) -> None:
    """Remove `folder` and its parents while empty, stopping below the table folder."""
    while folder.parent != warehouse and warehouse in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop here
            return
        folder = folder.parent


def run_expires_at(ended_at: datetime, materialized: Iterable[str], policy: RetentionPolicy) -> datetime | None:
    """When a finished run may be deleted from the Dagster instance; None = never.

    At least `policy.runs` after it ended; a run that materialized a tiered asset lives until that
    tier's data has expired (plus `RUN_GRACE`), so the UI never shows present data as missing and
    retention can still read the checks of the data it deletes.
    """
    keep = policy.runs
    for asset in materialized:
        if asset in KEEP_RUNS_FOREVER:
            return None
        tier = ASSET_TIER.get(asset)
        if tier is not None:
            keep = max(keep, policy.of(tier) + RUN_GRACE)
    return ended_at + keep
